#include "models/linear_observer.h"

namespace turbolm {
namespace {

thread_local LinearObserver* g_observer = nullptr;

}  // namespace

LinearObserver* current_linear_observer() { return g_observer; }

ScopedLinearObserver::ScopedLinearObserver(LinearObserver* observer) : previous_(g_observer) { g_observer = observer; }

ScopedLinearObserver::~ScopedLinearObserver() { g_observer = previous_; }

}  // namespace turbolm
