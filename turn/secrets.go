package turn

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sprechzimmer/sprechzimmer/internal/turnsecret"
)

// secretMetrics hands the auth handler the shared secrets in use and
// counts the requests they authenticated, by which secret: the current
// one, or the previous one during a rotation. When the previous secret's
// count stops growing, no client uses credentials minted under it any more.
type secretMetrics struct {
	get             func() *turnsecret.Secrets
	authentications *prometheus.CounterVec
}

// newSecretMetrics reads the secrets from c.Secrets, or holds c.Secret.
func newSecretMetrics(c Config) *secretMetrics {
	get := func() *turnsecret.Secrets { return c.Secrets.Secrets() }
	if c.Secrets == nil {
		fixed := &turnsecret.Secrets{Current: c.Secret}
		get = func() *turnsecret.Secrets { return fixed }
	}
	m := &secretMetrics{get: get, authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sprechzimmer", Subsystem: "turn", Name: "authentications_total",
		Help: "Authenticated requests accepted, by the shared secret their credential was minted under: current, or previous (during a rotation).",
	}, []string{"secret"})}
	for _, role := range []string{turnsecret.RoleCurrent, turnsecret.RolePrevious} {
		m.authentications.WithLabelValues(role)
	}
	return m
}

// accepted counts a request of username whose credential checked out.
func (m *secretMetrics) accepted(username string) {
	_, role := m.get().For(username)
	m.authentications.WithLabelValues(role).Inc()
}

func (m *secretMetrics) register(reg prometheus.Registerer) error {
	if err := reg.Register(m.authentications); err != nil {
		return fmt.Errorf("register turn metrics: %w", err)
	}
	return nil
}
