// Command dev runs the whole product on this machine, with no cluster: a
// local kube-apiserver and etcd, kube-controller-manager (garbage
// collector, namespace and ServiceAccount controllers), the operator with
// its webhook, rooms as local processes, the front door and a TURN server,
// and a demo session.
// It prints the therapist's and the client's link; open both in two tabs.
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
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address of the front door; the links point there")
	verbose := flag.Bool("v", false, "show the components' logs")
	metrics := flag.Bool("metrics", false, "serve the operator's, front door's and TURN server's metrics on loopback ports and print them (docs/monitoring.md)")
	flag.Parse()

	logs := io.Discard
	if *verbose {
		logs = os.Stderr
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(logs, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := devenv.Run(ctx, devenv.Options{Listen: *listen, Out: os.Stdout, Logs: logs, Metrics: *metrics}); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
	fmt.Println("stopped; nothing is left behind")
}
