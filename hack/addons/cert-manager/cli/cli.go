// Package cli is the command-line frame the three cert-manager commands here
// share: flag parsing, --version, logging set-up and a signal-bound context.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"

	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

// Main parses the command line into the flags addFlags registers, applies the
// logging and feature-gate settings, and calls run with a context that ends
// on SIGINT or SIGTERM. It exits the process with 1 on any error.
func Main(component string, logging *logsapi.LoggingConfiguration, gates *map[string]bool,
	addFlags func(*pflag.FlagSet), run func(context.Context) error) {
	logf.InitLogs()
	defer logf.FlushLogs()

	fs := pflag.NewFlagSet(component, pflag.ContinueOnError)
	version := fs.Bool("version", false, "print the version and exit")
	addFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fail(component, err)
	}
	if *version {
		fmt.Printf("cert-manager %s %s (commit %q)\n", component, util.AppVersion, util.AppGitCommit)
		return
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(*gates); err != nil {
		fail(component, fmt.Errorf("feature gates: %w", err))
	}
	if err := logf.ValidateAndApply(logging); err != nil {
		fail(component, fmt.Errorf("logging flags: %w", err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, component)
	if err := run(ctx); err != nil {
		fail(component, err)
	}
}

func fail(component string, err error) {
	fmt.Fprintf(os.Stderr, "cert-manager %s: %v\n", component, err)
	logf.FlushLogs()
	os.Exit(1)
}
