// Package config is the contract between the operator and a room's signaling
// server: the environment variables the operator puts into the signaling Pod
// and that the signaling server reads at start. Both sides use these names,
// so they cannot drift apart.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// Environment variable names. None of them carries a join token: the server
// receives only the tokens' hashes.
const (
	// EnvListen is the address the server listens on, for example ":8080".
	EnvListen = "SPRECHZIMMER_LISTEN"
	// EnvSessionNamespace is the namespace of the VideoSession.
	EnvSessionNamespace = "SPRECHZIMMER_SESSION_NAMESPACE"
	// EnvSessionName is the name of the VideoSession.
	EnvSessionName = "SPRECHZIMMER_SESSION_NAME"
	// EnvTherapistTokenHash is the hex SHA-256 of the therapist's join token.
	EnvTherapistTokenHash = "SPRECHZIMMER_THERAPIST_TOKEN_SHA256"
	// EnvClientTokenHash is the hex SHA-256 of the client's join token.
	EnvClientTokenHash = "SPRECHZIMMER_CLIENT_TOKEN_SHA256" //nolint:gosec // G101: the name of an environment variable, not a credential
	// EnvExpiresAt is the room's expiry time, RFC 3339.
	EnvExpiresAt = "SPRECHZIMMER_EXPIRES_AT"
	// EnvICEServers is the JSON list of ICE servers handed to the browsers,
	// TURN credentials included (from the room's Secret, never a plain value).
	EnvICEServers = "SPRECHZIMMER_ICE_SERVERS"
	// EnvPublicURL is the room's public URL without secrets; its origin is
	// the origin browsers must come from.
	EnvPublicURL = "SPRECHZIMMER_PUBLIC_URL"
	// EnvAllowedOrigins is an optional comma-separated list of further origins.
	EnvAllowedOrigins = "SPRECHZIMMER_ALLOWED_ORIGINS"
	// EnvLanguage is the room's default UI language ("de" or "en").
	EnvLanguage = "SPRECHZIMMER_LANGUAGE"
	// EnvAdmission is who lets the client into the call: AdmissionTherapist
	// (the default when unset) or AdmissionAutomatic.
	EnvAdmission = "SPRECHZIMMER_ADMISSION"
	// EnvStartsAt is the appointment's start time, RFC 3339 (optional): the
	// waiting room shows it.
	EnvStartsAt = "SPRECHZIMMER_STARTS_AT"
	// EnvTermsVersion is the version of the terms text a client must consent to.
	EnvTermsVersion = "SPRECHZIMMER_TERMS_VERSION"
	// EnvReportStatus is "true" when the server reports the room's state to
	// its VideoSession's status through the Kubernetes API.
	EnvReportStatus = "SPRECHZIMMER_REPORT_STATUS"
	// EnvServiceAccountDir is the directory holding the service account's
	// token and ca.crt (default: the path kubelet mounts them at).
	EnvServiceAccountDir = "SPRECHZIMMER_SERVICEACCOUNT_DIR"
	// EnvAPIServer is the Kubernetes API server URL; by default it is built
	// from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
	EnvAPIServer = "SPRECHZIMMER_APISERVER"
	// EnvMaxConnections is how many WebSockets the room takes at once
	// (optional; the server's default when unset).
	EnvMaxConnections = "SPRECHZIMMER_MAX_CONNECTIONS"
	// EnvMaxPendingConnections is how many of them may be waiting for their
	// hello at once (optional).
	EnvMaxPendingConnections = "SPRECHZIMMER_MAX_PENDING_CONNECTIONS"
	// EnvHelloTimeout is how long a new WebSocket may take to say hello, a
	// Go duration such as "5s" (optional).
	EnvHelloTimeout = "SPRECHZIMMER_HELLO_TIMEOUT"
	// EnvRefusalReportInterval is the least time between two status
	// reports that only count more refused joins, a Go duration such as
	// "5s" (optional; the reporter's default when unset).
	EnvRefusalReportInterval = "SPRECHZIMMER_REFUSAL_REPORT_INTERVAL"
)

// Admission is who lets the client into the call. Its values are those of
// the VideoSession's spec.admission.
type Admission string

const (
	// AdmissionTherapist means the client waits until the therapist admits them.
	AdmissionTherapist Admission = "Therapist"
	// AdmissionAutomatic means the client is admitted as soon as they join.
	AdmissionAutomatic Admission = "Automatic"
)

// DefaultServiceAccountDir is where kubelet mounts a Pod's API credentials.
const DefaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// DefaultTermsVersion is used when EnvTermsVersion is not set.
const DefaultTermsVersion = "2026-11"

// Config is everything a room's signaling server needs to know.
type Config struct {
	Listen           string
	SessionNamespace string
	SessionName      string
	TherapistToken   jointoken.Hash
	ClientToken      jointoken.Hash
	ExpiresAt        time.Time
	// StartsAt is the appointment's start; zero when not given.
	StartsAt time.Time
	// Admission is who lets the client in; AdmissionTherapist by default.
	Admission         Admission
	ICEServers        []protocol.ICEServer
	PublicURL         *url.URL
	AllowedOrigins    []string
	Language          string
	TermsVersion      string
	ReportStatus      bool
	ServiceAccountDir string
	APIServer         string
	// MaxConnections, MaxPendingConnections and HelloTimeout bound the
	// WebSockets; zero means the signaling server's default.
	MaxConnections        int
	MaxPendingConnections int
	HelloTimeout          time.Duration
	// RefusalReportInterval is the least time between two status reports
	// that only count more refused joins; zero means the reporter's default.
	RefusalReportInterval time.Duration
}

// Env returns the environment for cfg, the inverse of Load. The operator's
// Pod builder and the local pod runner use it; ICE servers are left out
// because they travel through a Secret.
func (c *Config) Env() map[string]string {
	env := map[string]string{
		EnvListen:             c.Listen,
		EnvSessionNamespace:   c.SessionNamespace,
		EnvSessionName:        c.SessionName,
		EnvTherapistTokenHash: c.TherapistToken.String(),
		EnvClientTokenHash:    c.ClientToken.String(),
		EnvExpiresAt:          c.ExpiresAt.UTC().Format(time.RFC3339),
		EnvLanguage:           c.Language,
		EnvAdmission:          string(c.Admission),
		EnvTermsVersion:       c.TermsVersion,
		EnvReportStatus:       fmt.Sprint(c.ReportStatus),
	}
	if !c.StartsAt.IsZero() {
		env[EnvStartsAt] = c.StartsAt.UTC().Format(time.RFC3339)
	}
	if c.PublicURL != nil {
		env[EnvPublicURL] = c.PublicURL.String()
	}
	if len(c.AllowedOrigins) > 0 {
		env[EnvAllowedOrigins] = strings.Join(c.AllowedOrigins, ",")
	}
	if c.MaxConnections != 0 {
		env[EnvMaxConnections] = strconv.Itoa(c.MaxConnections)
	}
	if c.MaxPendingConnections != 0 {
		env[EnvMaxPendingConnections] = strconv.Itoa(c.MaxPendingConnections)
	}
	if c.HelloTimeout != 0 {
		env[EnvHelloTimeout] = c.HelloTimeout.String()
	}
	if c.RefusalReportInterval != 0 {
		env[EnvRefusalReportInterval] = c.RefusalReportInterval.String()
	}
	return env
}

// Load reads the configuration through getenv (os.Getenv in production) and
// checks it. Errors name the variable but never echo a value.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{
		Listen:            getenv(EnvListen),
		SessionNamespace:  getenv(EnvSessionNamespace),
		SessionName:       getenv(EnvSessionName),
		Language:          getenv(EnvLanguage),
		Admission:         Admission(getenv(EnvAdmission)),
		TermsVersion:      getenv(EnvTermsVersion),
		ReportStatus:      getenv(EnvReportStatus) == "true",
		ServiceAccountDir: getenv(EnvServiceAccountDir),
		APIServer:         getenv(EnvAPIServer),
	}
	var errs []error
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.Language == "" {
		c.Language = "de"
	}
	if c.Admission == "" {
		c.Admission = AdmissionTherapist
	}
	if c.TermsVersion == "" {
		c.TermsVersion = DefaultTermsVersion
	}
	if c.ServiceAccountDir == "" {
		c.ServiceAccountDir = DefaultServiceAccountDir
	}
	var err error
	if c.TherapistToken, err = jointoken.ParseHash(getenv(EnvTherapistTokenHash)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvTherapistTokenHash, err))
	}
	if c.ClientToken, err = jointoken.ParseHash(getenv(EnvClientTokenHash)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvClientTokenHash, err))
	}
	if c.TherapistToken == c.ClientToken {
		errs = append(errs, fmt.Errorf("%s and %s must differ", EnvTherapistTokenHash, EnvClientTokenHash))
	}
	if c.ExpiresAt, err = time.Parse(time.RFC3339, getenv(EnvExpiresAt)); err != nil {
		errs = append(errs, fmt.Errorf("%s: must be an RFC 3339 time", EnvExpiresAt))
	}
	if raw := getenv(EnvStartsAt); raw != "" {
		if c.StartsAt, err = time.Parse(time.RFC3339, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: must be an RFC 3339 time", EnvStartsAt))
		}
	}
	if c.Admission != AdmissionTherapist && c.Admission != AdmissionAutomatic {
		errs = append(errs, fmt.Errorf("%s: must be %s or %s", EnvAdmission, AdmissionTherapist, AdmissionAutomatic))
	}
	if raw := getenv(EnvICEServers); raw != "" {
		if err := json.Unmarshal([]byte(raw), &c.ICEServers); err != nil {
			errs = append(errs, fmt.Errorf("%s: must be a JSON list of {urls, username, credential}", EnvICEServers))
		}
	}
	if raw := getenv(EnvPublicURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: must be an absolute http(s) URL", EnvPublicURL))
		}
		c.PublicURL = u
	}
	for _, o := range strings.Split(getenv(EnvAllowedOrigins), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
	}
	if c.Language != "de" && c.Language != "en" {
		errs = append(errs, fmt.Errorf("%s: must be de or en", EnvLanguage))
	}
	for _, f := range []struct {
		name  string
		field *int
	}{{EnvMaxConnections, &c.MaxConnections}, {EnvMaxPendingConnections, &c.MaxPendingConnections}} {
		name, field := f.name, f.field
		if raw := getenv(name); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s: must be a positive whole number", name))
			}
			*field = n
		}
	}
	for name, field := range map[string]*time.Duration{EnvHelloTimeout: &c.HelloTimeout, EnvRefusalReportInterval: &c.RefusalReportInterval} {
		if raw := getenv(name); raw != "" {
			if *field, err = time.ParseDuration(raw); err != nil || *field <= 0 {
				errs = append(errs, fmt.Errorf("%s: must be a positive duration such as 5s", name))
			}
		}
	}
	if c.ReportStatus && (c.SessionNamespace == "" || c.SessionName == "") {
		errs = append(errs, fmt.Errorf("%s and %s are required when %s is true", EnvSessionNamespace, EnvSessionName, EnvReportStatus))
	}
	return c, errors.Join(errs...)
}
