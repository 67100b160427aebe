package turn

import (
	"context"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory hands pion a logger that cannot leak personal data:
// pion's messages carry client and peer addresses and sometimes usernames
// in their arguments, so only warnings and errors are passed on, and only
// their constant format strings, never the arguments. Messages without a
// format are withheld entirely, since they may be built from data.
type pionLoggerFactory struct {
	log *slog.Logger
}

// NewLogger implements logging.LoggerFactory.
func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("component", "pion/"+scope)}
}

type pionLogger struct {
	log *slog.Logger
}

const withheld = "pion message withheld (may contain addresses)"

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (pionLogger) Info(string)           {}
func (pionLogger) Infof(string, ...any)  {}

func (l pionLogger) Warn(string) { l.log.Log(context.Background(), slog.LevelWarn, withheld) }

func (l pionLogger) Warnf(format string, _ ...any) {
	l.log.Log(context.Background(), slog.LevelWarn, format)
}

func (l pionLogger) Error(string) { l.log.Log(context.Background(), slog.LevelError, withheld) }

func (l pionLogger) Errorf(format string, _ ...any) {
	level := slog.LevelError
	if _, ok := expectedFromTheInternet[format]; ok {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, format)
}

// expectedFromTheInternet are pion's error messages that any client on the
// internet can cause at will (a port scanner on the TLS port), logged at
// debug level so that they cannot flood the log.
var expectedFromTheInternet = map[string]struct{}{
	"TLS handshake failed: %s": {},
}
