package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchfloor/watchfloor"
)

const testToken = "s3cret-wall-token"

var testNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// fakeStore is an in-memory Store that remembers the queries it was asked.
type fakeStore struct {
	mu          sync.Mutex
	devices     []watchfloor.Device
	events      []watchfloor.Event
	backup      []byte
	backupErr   error
	seriesQs    []watchfloor.SeriesQuery
	eventQs     []watchfloor.EventQuery
	failDevices bool
	flowRows    []watchfloor.FlowRow // FlowTop answers those of the asked dimension
	flowErr     error
	flowQs      []watchfloor.FlowTopQuery
}

func (s *fakeStore) Devices() ([]watchfloor.Device, error) {
	if s.failDevices {
		return nil, errors.New("store closed")
	}
	return slices.Clone(s.devices), nil
}

func (s *fakeStore) Events(q watchfloor.EventQuery) ([]watchfloor.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventQs = append(s.eventQs, q)
	var out []watchfloor.Event
	for _, e := range s.events {
		if (q.AfterID == 0 || e.ID > q.AfterID) && (q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.Device == "" || e.Device == q.Device) {
			out = append(out, e)
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (s *fakeStore) Series(q watchfloor.SeriesQuery) (watchfloor.Series, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seriesQs = append(s.seriesQs, q)
	return watchfloor.Series{Device: q.Device, IfIndex: q.IfIndex, Metric: q.Metric, Step: watchfloor.StepRaw,
		Points: []watchfloor.Point{{Time: q.From, Value: 1, Min: 1, Max: 1}}}, nil
}

func (s *fakeStore) Backup(w io.Writer) (int64, error) {
	if s.backupErr != nil {
		return 0, s.backupErr
	}
	n, err := w.Write(s.backup)
	return int64(n), err
}

func (s *fakeStore) FlowTop(q watchfloor.FlowTopQuery) ([]watchfloor.FlowRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flowQs = append(s.flowQs, q)
	if s.flowErr != nil {
		return nil, s.flowErr
	}
	var out []watchfloor.FlowRow
	for _, r := range s.flowRows {
		if r.By == q.By && (q.Device == "" || r.Device == q.Device) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *fakeStore) lastFlowQuery() watchfloor.FlowTopQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flowQs[len(s.flowQs)-1]
}

func (s *fakeStore) lastSeries() watchfloor.SeriesQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seriesQs[len(s.seriesQs)-1]
}

func (s *fakeStore) lastEvents() watchfloor.EventQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventQs[len(s.eventQs)-1]
}

func ptr[T any](v T) *T { return &v }

// testDevice builds a device with n interfaces named Gi0/1…; the first carries traffic.
func testDevice(name, role string, status watchfloor.DeviceStatus, n int) watchfloor.Device {
	d := watchfloor.Device{
		Name: name, Address: "127.0.0.1:161", Site: "lab", Role: role, Status: status,
		SysName: name + ".lab", SysDescr: "Simulated " + role + " switch", UptimeS: 86400*3 + 3600*5,
		LastPoll: testNow, LastChange: testNow.Add(-time.Hour), PollSeconds: 0.05,
	}
	if status == watchfloor.DeviceUp {
		d.CPUPercent, d.MemPercent = ptr(23.0), ptr(61.0)
	} else if status == watchfloor.DeviceDown {
		d.PollError = "request timeout (after 2 retries)"
	}
	for i := 1; i <= n; i++ {
		it := watchfloor.Interface{
			Index: int32(i), Name: fmt.Sprintf("Gi0/%d", i), Descr: fmt.Sprintf("GigabitEthernet0/%d", i),
			SpeedBps: 1e9, AdminStatus: watchfloor.IfUp, OperStatus: watchfloor.IfUp, HC: true,
		}
		switch {
		case i == 1:
			it.InBps, it.OutBps, it.Utilization = 612e6, 240e6, 61.2
		case i%7 == 0:
			it.OperStatus = watchfloor.IfDown
		case i%11 == 0:
			it.AdminStatus, it.OperStatus = watchfloor.IfDown, watchfloor.IfDown
		default:
			it.InBps, it.OutBps = float64(i)*1e6, float64(i)*5e5
			it.Utilization = float64(i) * 0.1
		}
		d.Interfaces = append(d.Interfaces, it)
	}
	return d
}

func testStore() *fakeStore {
	core := testDevice("core1", "core", watchfloor.DeviceUp, 8)
	core.Neighbors = []watchfloor.Neighbor{{LocalIfIndex: 1, LocalPort: "Gi0/1", RemoteSysName: "dist1.lab", RemotePort: "Gi0/1"}}
	return &fakeStore{
		devices: []watchfloor.Device{
			testDevice("dist1", "distribution", watchfloor.DeviceUp, 12),
			core,
			testDevice("access1", "access", watchfloor.DeviceDown, 24),
		},
		events: []watchfloor.Event{
			{ID: 1, Time: testNow.Add(-2 * time.Hour), Kind: watchfloor.EventDeviceReachable, Device: "core1", Source: "snmp.poll", Message: "core1 answers again"},
			{ID: 2, Time: testNow.Add(-30 * time.Minute), Kind: watchfloor.EventInterfaceDown, Severity: watchfloor.SeverityHigh, Device: "dist1", Interface: "Gi0/7", Source: "snmp.poll", Message: "Gi0/7 went down"},
			{ID: 3, Time: testNow.Add(-time.Minute), Kind: watchfloor.EventDeviceUnreachable, Severity: watchfloor.SeverityCritical, Device: "access1", Source: "snmp.poll", Message: "access1 stopped answering"},
		},
		backup: bytes.Repeat([]byte("bolt"), 1000),
	}
}

// newTestConsole builds a console over store with a fixed clock for the API.
func newTestConsole(t testing.TB, cfg Config, store *fakeStore) (*Console, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := newConsole(cfg, Deps{Store: store, Token: testToken, Site: "lab", Registerer: reg, Gatherer: reg},
		func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// newTestServer serves a test console over HTTP.
func newTestServer(t *testing.T, cfg Config, store *fakeStore) (*Console, *httptest.Server, *prometheus.Registry) {
	t.Helper()
	c, reg := newTestConsole(t, cfg, store)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		c.hub.close(time.Second)
		srv.Close()
	})
	return c, srv, reg
}

func get(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// metricValue sums the samples of a metric family whose labels include want.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// newServer serves h over HTTP for the test and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
