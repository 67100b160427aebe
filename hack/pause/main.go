// Command pause is the Pod sandbox's placeholder process: it holds the
// sandbox's namespaces by doing nothing until SIGTERM or SIGINT, then exits
// 0. Built statically and packed by hack/images as the node's pause image
// (containerd's sandbox_image):
//
//	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -buildid=' -o bin/build/linux_amd64/pause ./hack/pause
//	go run ./hack/images -ref ghcr.io/sprechzimmer/pause:v0.1.0 \
//	    -bin linux/amd64=bin/build/linux_amd64/pause -entrypoint /pause -o bin/images/pause.tar
//
// `make images` does both for every platform.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
