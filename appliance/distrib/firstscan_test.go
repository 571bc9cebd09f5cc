package distrib

import (
	"os"
	"path/filepath"
	"testing"
)

// A rules directory that does not check at central's first start is not offered at all: an
// empty bundle must not stand in for it (the appliances would apply "version 1" of nothing),
// and once it is fixed, its first version is offered.
func TestBrokenPackAtFirstStartNotOffered(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "lists"), 0o700); err != nil {
		t.Fatal(err)
	}
	rule := `title: Probe
name: probe
description: x
author: Watchfloor
level: low
logsource: {product: watchfloor, category: event}
detection:
  selection: {event.kind: trap, attr.source|expand: '%probe_sources%'}
  condition: selection
category: security
tags: [attack.discovery, attack.t1046]
alert:
  identity: [attr.source]
  runbook: https://wiki.example.org/runbooks/probe
`
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("probe.yaml", rule)
	write("lists/probe_sources.txt", "192.0.2.66\n") // an IP list on a string field: does not check
	cfg := DefaultSourceConfig()
	cfg.Rules = dir
	p, err := NewPublisher(cfg, t.TempDir(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.scan()
	if got := p.Offered(); len(got) != 0 {
		t.Fatalf("a pack that does not check is offered: %+v", got)
	}
	write("lists/probe_sources.txt", "scanner.example\n")
	p.scan()
	got := p.Offered()
	if len(got) != 1 || got[0].Kind != KindRules || got[0].Version != 1 {
		t.Fatalf("after the fix: %+v, want rules version 1", got)
	}
}
