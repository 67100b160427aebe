package controllers

// UseDeadlinesForTest gives a reconciler built outside SetupWithManager its
// timers, for tests that call Reconcile directly.
func (r *VideoSessionReconciler) UseDeadlinesForTest() { r.deadlines = newDeadlines(r.Clock) }
