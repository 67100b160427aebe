package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
)

// deadlines wakes the controller for a session at an exact time, through the
// injected clock, so that tests move time instead of sleeping. It holds one
// timer per session; a restarted operator rebuilds them from the absolute
// times in the objects when its cache fills.
type deadlines struct {
	clock  clock.WithDelayedExecution
	events chan event.GenericEvent

	mu     sync.Mutex
	timers map[types.NamespacedName]deadline
}

type deadline struct {
	at    time.Time
	timer clock.Timer
}

func newDeadlines(c clock.WithDelayedExecution) *deadlines {
	return &deadlines{clock: c, events: make(chan event.GenericEvent, 1024), timers: map[types.NamespacedName]deadline{}}
}

// At wakes the controller for key at the given time. A later call replaces
// an earlier one; the same time again is a no-op.
func (d *deadlines) At(key types.NamespacedName, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.timers[key]; ok {
		if old.at.Equal(at) {
			return
		}
		old.timer.Stop()
	}
	d.timers[key] = deadline{at: at, timer: d.clock.AfterFunc(at.Sub(d.clock.Now()), func() {
		d.mu.Lock()
		if cur, ok := d.timers[key]; ok && cur.at.Equal(at) {
			delete(d.timers, key)
		}
		d.mu.Unlock()
		obj := &videov1alpha1.VideoSession{}
		obj.Namespace, obj.Name = key.Namespace, key.Name
		d.events <- event.GenericEvent{Object: client.Object(obj)}
	})}
}

// Forget drops the timer of a session that is gone.
func (d *deadlines) Forget(key types.NamespacedName) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.timers[key]; ok {
		old.timer.Stop()
		delete(d.timers, key)
	}
}
