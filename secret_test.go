package watchfloor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2-community")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("poll", "community", s)
	js, _ := json.Marshal(struct{ C Secret }{s})
	for name, out := range map[string]string{
		"%v":   fmt.Sprintf("%v", s),
		"%s":   fmt.Sprintf("%s", s),
		"%#v":  fmt.Sprintf("%#v", struct{ C Secret }{s}),
		"slog": logged.String(),
		"json": string(js),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
	}
	if s.Reveal() != "hunter2-community" {
		t.Fatal("Reveal lost the value")
	}
	var back Secret
	if err := back.UnmarshalText([]byte("x")); err != nil || back.Reveal() != "x" {
		t.Fatal("UnmarshalText")
	}
}

func TestSeverityText(t *testing.T) {
	for s := SeverityInfo; s <= SeverityCritical; s++ {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%v round-trips to %v, %v", s, back, err)
		}
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Fatal("unknown severity accepted")
	}
	if s, _ := ParseSeverity("informational"); s != SeverityInfo {
		t.Fatal("Sigma's informational")
	}
}

func TestStatusText(t *testing.T) {
	for s := IfUp; s <= IfLowerLayerDown; s++ {
		b, _ := s.MarshalText()
		var back IfStatus
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%v round-trips to %v, %v", s, back, err)
		}
	}
	for s := DeviceUnknown; s <= DeviceDown; s++ {
		b, _ := s.MarshalText()
		var back DeviceStatus
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%v round-trips to %v, %v", s, back, err)
		}
	}
}
