// Command dev runs the whole product on this machine, with no cluster: a
// local kube-apiserver and etcd, kube-controller-manager (garbage
// collector, namespace and ServiceAccount controllers), the operator with
// its webhook, rooms as local processes, the front door and a TURN server,
// and a demo session.
// It prints the therapist's and the client's link; open both in two tabs.
// With -lan it serves them over HTTPS on this machine's LAN address, with a
// certificate from a local certificate authority it keeps for later runs,
// and prints how to trust that authority on a phone and a QR code of the
// client's link.
// Ctrl-C stops everything and removes its files.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sprechzimmer/sprechzimmer/internal/devenv"
	"github.com/sprechzimmer/sprechzimmer/internal/devenv/localca"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address of the front door; the links point there")
	verbose := flag.Bool("v", false, "show the components' logs")
	lan := flag.Bool("lan", false, "serve the links over HTTPS on this machine's LAN address, for a phone in the same network (README: Try it on a phone)")
	lanListen := flag.String("lan-listen", ":"+devenv.DefaultLANPort, "with -lan: host:port on the LAN; an empty host is the address of the default route's interface")
	caDir := flag.String("ca-dir", "", "with -lan: directory of the local certificate authority, kept for later runs (default: sprechzimmer/dev-ca in the user's state directory)")
	metrics := flag.Bool("metrics", false, "serve the operator's, front door's and TURN server's metrics on loopback ports and print them (docs/monitoring.md)")
	flag.Parse()
	var lanOpts *devenv.LANOptions
	if *lan {
		lanOpts = &devenv.LANOptions{Listen: *lanListen, CADir: *caDir}
		if lanOpts.CADir == "" {
			dir, err := localca.DefaultDir()
			if err != nil {
				fmt.Fprintln(os.Stderr, "dev: -ca-dir:", err)
				os.Exit(2)
			}
			lanOpts.CADir = dir
		}
	}

	logs := io.Discard
	if *verbose {
		logs = os.Stderr
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(logs, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := devenv.Run(ctx, devenv.Options{Listen: *listen, Out: os.Stdout, Logs: logs, Metrics: *metrics, LAN: lanOpts}); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
	fmt.Println("stopped; nothing is left behind")
}
