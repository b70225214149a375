turbolm_test(test_scheduler LABEL unit
    SOURCES unit/scheduler/test_scheduler.cpp unit/scheduler/test_scheduler_sim.cpp
    DEPS turbolm_scheduler)
