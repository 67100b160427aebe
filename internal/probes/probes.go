// Package probes holds the one rule for the liveness probes of every
// Sprechzimmer container (rooms, front door, TURN server, operator): a
// process is restarted only when it has not answered for a whole minute,
// never because a busy node answered a probe late. A room, front door or
// TURN server restarted by its kubelet ends every call it carries, which is
// worse for both people in it than a health check answered slowly.
package probes

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

const (
	// TimeoutSeconds is how long each probe waits for its answer. The
	// default of one second is too short on a busy node: a CPU-throttled
	// room answered late three times in a row in CI and was restarted
	// mid-call.
	TimeoutSeconds = 5
	// LivenessPeriodSeconds is how often a liveness probe asks.
	LivenessPeriodSeconds = 10
	// LivenessFailureThreshold is how many answers in a row a liveness
	// probe may miss before the container is restarted.
	LivenessFailureThreshold = 6
	// MinUnansweredSeconds is the rule every liveness probe keeps: at
	// least this long without an answer before a restart.
	MinUnansweredSeconds = 60
)

// Liveness is a liveness probe by the rule, asking handler.
func Liveness(handler corev1.ProbeHandler) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     handler,
		TimeoutSeconds:   TimeoutSeconds,
		PeriodSeconds:    LivenessPeriodSeconds,
		FailureThreshold: LivenessFailureThreshold,
	}
}

// CheckLiveness reports how c's liveness probe breaks the rule, or nil.
// A container without one keeps the rule (nothing restarts it).
func CheckLiveness(c corev1.Container) error {
	p := c.LivenessProbe
	if p == nil {
		return nil
	}
	timeout, period, failures := orDefault(p.TimeoutSeconds, 1), orDefault(p.PeriodSeconds, 10), orDefault(p.FailureThreshold, 3)
	if timeout < TimeoutSeconds {
		return fmt.Errorf("container %s: livenessProbe.timeoutSeconds is %d, want at least %d", c.Name, timeout, TimeoutSeconds)
	}
	if unanswered := period * failures; unanswered < MinUnansweredSeconds {
		return fmt.Errorf("container %s: livenessProbe restarts after %d s without an answer (periodSeconds %d x failureThreshold %d), want at least %d s",
			c.Name, unanswered, period, failures, MinUnansweredSeconds)
	}
	return nil
}

// orDefault is v, or Kubernetes' default d where v is unset.
func orDefault(v, d int32) int32 {
	if v == 0 {
		return d
	}
	return v
}
