package main

import (
	"os"
	"testing"
)

func TestMemoryReadsProcStatus(t *testing.T) {
	s := &Server{pid: os.Getpid()}
	m, err := s.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("memory %+v: want 0 < RSS <= HWM", m)
	}
}
