#include "runtime/internal/child_tasks.h"

#include "runtime/internal/context.h"

namespace tidepool::internal {

ChildTasks::Awaiting::Awaiting(ChildTasks& children)
    : children_(children), task_(CurrentTask()) {
  if (task_ != nullptr) task_->set_in_flight_children(&children_);
}

ChildTasks::Awaiting::~Awaiting() {
  if (task_ != nullptr && task_->in_flight_children() == &children_) {
    task_->clear_in_flight();
  }
}

bool ChildTasks::AbortAndWatch(TaskHeader* parent) {
  if (!aborted_) {
    aborted_ = true;
    for (TaskHeader* child : children_) {
      if (child != nullptr) child->Abort();
    }
  }
  // Children found complete stay so: each claim starts where the last one
  // stopped, so aborting n children costs O(n) looks, not O(n^2).
  for (; first_alive_ < children_.size(); ++first_alive_) {
    TaskHeader* const child = children_[first_alive_];
    // A completed child has destroyed its frame (a poll or a cancellation
    // destroys it before Complete()).
    if (child != nullptr && !child->IsComplete() &&
        child->WakeOnCompletion(parent)) {
      return true;
    }
  }
  return false;
}

}  // namespace tidepool::internal
