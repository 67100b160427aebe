// Command webhook is cert-manager's admission and conversion webhook, wired
// from the library packages of the github.com/cert-manager/cert-manager
// module (the upstream command lives in a module the Go proxy does not serve).
package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/webhook/options"

	"github.com/cert-manager/cert-manager/sprechzimmer-addons/cli"
)

func main() {
	cfg, err := options.NewWebhookConfiguration()
	if err != nil {
		panic(err)
	}
	cli.Main("webhook", &cfg.Logging, &cfg.FeatureGates,
		func(fs *pflag.FlagSet) { options.AddConfigFlags(fs, cfg) },
		func(ctx context.Context) error {
			if errs := validation.ValidateWebhookConfiguration(cfg, nil); len(errs) > 0 {
				return fmt.Errorf("invalid flags: %w", errs.ToAggregate())
			}
			srv, err := cmwebhook.NewCertManagerWebhookServer(logf.FromContext(ctx), *cfg)
			if err != nil {
				return err
			}
			return srv.Run(ctx)
		})
}
