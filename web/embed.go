// Package web holds the browser client: the waiting room and the call page,
// served by the signaling server from the embedded file system.
package web

import "embed"

// Static is the browser client's files; index.html is the page for a room.
//
//go:embed static
var Static embed.FS
