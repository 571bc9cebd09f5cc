package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/watchfloor/watchfloor"
)

// dial opens the stream of srv; header may carry a token or an Origin.
func dial(t *testing.T, srvURL, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(srvURL, "http") + "/api/v1/stream" + query
	conn, resp, err := websocket.DefaultDialer.Dial(u, header)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

func authHeader() http.Header { return http.Header{"Authorization": {"Bearer " + testToken}} }

// message is any message of the stream.
type message struct {
	Type         string              `json:"type"`
	Site         string              `json:"site"`
	StaleAfterMS int64               `json:"stale_after_ms"`
	Devices      []watchfloor.Device `json:"devices"`
	Device       watchfloor.Device   `json:"device"`
	Events       []watchfloor.Event  `json:"events"`
	Topology     []watchfloor.Link   `json:"topology"`
	Links        []watchfloor.Link   `json:"links"`
	Stats        *Stats              `json:"stats"`
}

func read(t *testing.T, conn *websocket.Conn) message {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// A client first gets the snapshot, then each change as a delta.
func TestStreamSnapshotThenDeltas(t *testing.T) {
	c, srv, reg := newTestServer(t, Config{StaleAfter: 30 * time.Second}, testStore())
	c.PublishStats(Stats{Time: testNow, RecordsIn: 1000, Dropped: 10, QueueDepth: 3, QueueCapacity: 1024})
	conn, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	snap := read(t, conn)
	if snap.Type != "snapshot" || snap.Site != "lab" || snap.StaleAfterMS != 30000 {
		t.Fatalf("first message %+v", snap)
	}
	if len(snap.Devices) != 3 || snap.Devices[0].Name != "access1" || len(snap.Devices[2].Interfaces) != 12 {
		t.Errorf("snapshot devices %+v", snap.Devices)
	}
	if len(snap.Events) != 3 || snap.Events[2].ID != 3 {
		t.Errorf("snapshot events %+v", snap.Events)
	}
	if len(snap.Topology) != 1 || snap.Topology[0].B != "dist1" {
		t.Errorf("snapshot topology %+v", snap.Topology)
	}
	if snap.Stats == nil || snap.Stats.RecordsIn != 1000 || snap.Stats.QueueCapacity != 1024 {
		t.Errorf("snapshot stats %+v", snap.Stats)
	}

	// A device delta.
	d := testDevice("dist1", "distribution", watchfloor.DeviceDown, 12)
	c.PublishDevice(d)
	if m := read(t, conn); m.Type != "device" || m.Device.Name != "dist1" || m.Device.Status != watchfloor.DeviceDown {
		t.Errorf("device delta %+v", m)
	}
	// Events.
	c.PublishEvents([]watchfloor.Event{{ID: 4, Time: testNow, Kind: watchfloor.EventInterfaceDown, Device: "core1", Message: "Gi0/2 down"}})
	if m := read(t, conn); m.Type != "events" || len(m.Events) != 1 || m.Events[0].ID != 4 {
		t.Errorf("events delta %+v", m)
	}
	c.PublishEvents(nil) // nothing to say: no message
	// A new neighbour changes the topology: the device, then the links.
	a := testDevice("access1", "access", watchfloor.DeviceUp, 24)
	a.Neighbors = []watchfloor.Neighbor{{LocalPort: "Gi0/24", RemoteSysName: "dist1.lab", RemotePort: "Gi0/12"}}
	c.PublishDevice(a)
	if m := read(t, conn); m.Type != "device" || m.Device.Name != "access1" {
		t.Errorf("device delta %+v", m)
	}
	if m := read(t, conn); m.Type != "topology" || len(m.Links) != 2 || m.Links[0] != (watchfloor.Link{A: "access1", APort: "Gi0/24", B: "dist1", BPort: "Gi0/12"}) {
		t.Errorf("topology delta %+v", m)
	}
	// The same neighbours again: no topology message, the stats come next.
	c.PublishDevice(a)
	if m := read(t, conn); m.Type != "device" {
		t.Errorf("device delta %+v", m)
	}
	c.PublishStats(Stats{Time: testNow.Add(2 * time.Second), RecordsIn: 3000, Dropped: 14, QueueDepth: 5, QueueCapacity: 1024})
	m := read(t, conn)
	if m.Type != "stats" || m.Stats.RecordsPerS != 1000 || m.Stats.DroppedPerS != 2 || m.Stats.QueueDepth != 5 {
		t.Errorf("stats delta %+v", m.Stats)
	}
	// A second client gets the state as it is now.
	conn2, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	snap = read(t, conn2)
	if len(snap.Events) != 4 || snap.Devices[0].Status != watchfloor.DeviceUp || len(snap.Topology) != 2 || snap.Stats.RecordsPerS != 1000 {
		t.Errorf("second snapshot %+v", snap)
	}
	if got := metricValue(t, reg, "watchfloor_console_ws_clients", nil); got != 2 {
		t.Errorf("ws_clients = %v", got)
	}
	// The writer counts a message once it is written, which may be just after the client read it.
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, reg, "watchfloor_console_ws_messages_total", nil) != 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := metricValue(t, reg, "watchfloor_console_ws_messages_total", nil); got != 8 {
		t.Errorf("ws_messages_total = %v", got)
	}
	if got := metricValue(t, reg, "watchfloor_console_http_requests_total", map[string]string{"code": "101"}); got != 2 {
		t.Errorf("http_requests_total{code=101} = %v", got)
	}
}

// The snapshot carries only the newest events.
func TestSnapshotEventsBounded(t *testing.T) {
	c, srv, _ := newTestServer(t, Config{}, testStore())
	for i := range 300 {
		c.PublishEvents([]watchfloor.Event{{ID: uint64(100 + i), Time: testNow}})
	}
	conn, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	snap := read(t, conn)
	if len(snap.Events) != snapshotEvents || snap.Events[0].ID != 300 || snap.Events[99].ID != 399 {
		t.Errorf("snapshot has %d events %d..%d", len(snap.Events), snap.Events[0].ID, snap.Events[len(snap.Events)-1].ID)
	}
}

func TestStreamAuthAndOrigin(t *testing.T) {
	_, srv, _ := newTestServer(t, Config{AllowedOrigins: []string{"https://Wall.NOC.example"}}, testStore())
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		code   int // 0: connects
	}{
		{"token in query", "?token=" + testToken, nil, 0},
		{"token in header", "", authHeader(), 0},
		{"no token", "", nil, 401},
		{"wrong token in query", "?token=nope", nil, 401},
		{"empty token", "?token=", nil, 401},
		{"wrong header wins over query", "?token=" + testToken, http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"same host origin", "?token=" + testToken, http.Header{"Origin": {"http://" + host}}, 0},
		{"allowed origin", "?token=" + testToken, http.Header{"Origin": {"https://wall.noc.example"}}, 0},
		{"foreign origin", "?token=" + testToken, http.Header{"Origin": {"https://evil.example"}}, 403},
		{"same host other scheme port", "?token=" + testToken, http.Header{"Origin": {"http://" + host + "0"}}, 403},
		{"null origin", "?token=" + testToken, http.Header{"Origin": {"null"}}, 403},
	} {
		conn, resp, err := dial(t, srv.URL, tc.query, tc.header)
		if tc.code == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if m := read(t, conn); m.Type != "snapshot" {
				t.Errorf("%s: first message %q", tc.name, m.Type)
			}
			continue
		}
		if err == nil || resp == nil || resp.StatusCode != tc.code {
			t.Errorf("%s: err %v, response %v, want %d", tc.name, err, resp, tc.code)
		}
	}
}

// A client that stops reading is dropped once its queue is full; meanwhile a reading client
// gets every delta promptly and PublishDevice never waits.
func TestSlowClientDropped(t *testing.T) {
	c, srv, reg := newTestServer(t, Config{SendQueue: 4}, testStore())

	// The slow client: connects, then never reads.
	slow, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/stream?token="+testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	fast, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	read(t, fast) // snapshot
	fast.SetReadDeadline(time.Time{})
	got := make(chan string, 16)
	go func() {
		defer close(got)
		for {
			_, b, err := fast.ReadMessage()
			if err != nil {
				return
			}
			if i := bytes.Index(b, []byte(`"sys_name":"seq-`)); i >= 0 {
				got <- string(b[i+len(`"sys_name":"`) : i+bytes.IndexByte(b[i+12:], '"')+12])
			}
		}
	}()

	// Big devices fill the slow client's socket buffers quickly.
	big := testDevice("big", "core", watchfloor.DeviceUp, 250)
	var slowest, worstPublish time.Duration
	dropped := false
	i := 0
	for ; i < 2000 && !dropped; i++ {
		big.SysName = fmt.Sprintf("seq-%d", i)
		start := time.Now()
		c.PublishDevice(big)
		worstPublish = max(worstPublish, time.Since(start))
		select {
		case seq := <-got:
			if seq != big.SysName {
				t.Fatalf("fast client got %s, want %s", seq, big.SysName)
			}
		case <-time.After(time.Second):
			t.Fatalf("fast client did not get %s within 1s", big.SysName)
		}
		slowest = max(slowest, time.Since(start))
		dropped = metricValue(t, reg, "watchfloor_console_ws_dropped_total", nil) == 1
	}
	if !dropped {
		t.Fatal("the slow client was never dropped")
	}
	t.Logf("dropped after %d publishes of %d interfaces", i, len(big.Interfaces))
	t.Logf("slowest delivery to the fast client %v, slowest PublishDevice %v", slowest, worstPublish)
	if slowest > 100*time.Millisecond {
		t.Errorf("fast client waited %v for a delta, want < 100ms", slowest)
	}
	if worstPublish > 100*time.Millisecond {
		t.Errorf("PublishDevice took %v", worstPublish)
	}
	if n := metricValue(t, reg, "watchfloor_console_ws_clients", nil); n != 1 {
		t.Errorf("ws_clients = %v after the drop", n)
	}
	// The slow client, reading at last, finds its connection closed after what was buffered.
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	var rerr error
	n := 0
	for rerr == nil {
		var b []byte
		_, b, rerr = slow.ReadMessage()
		n += len(b)
	}
	t.Logf("slow client read %d bytes then %v", n, rerr)
	var ne net.Error
	if errors.As(rerr, &ne) && ne.Timeout() {
		t.Errorf("slow client was not disconnected: %v", rerr)
	}
	// The fast one is still served.
	c.PublishDevice(testDevice("after", "core", watchfloor.DeviceUp, 1))
	big.SysName = "seq-last"
	c.PublishDevice(big)
	select {
	case seq := <-got:
		if seq != "seq-last" {
			t.Errorf("fast client got %s", seq)
		}
	case <-time.After(5 * time.Second):
		t.Error("fast client lost after the drop")
	}
}

// A client whose TCP connection dies is forgotten.
func TestDeadClientCleanedUp(t *testing.T) {
	c, srv, reg := newTestServer(t, Config{}, testStore())
	conn, _, err := dial(t, srv.URL, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	read(t, conn)
	eventually(t, 5*time.Second, "one client", func() bool { return c.hub.clientCount() == 1 })
	conn.NetConn().Close() // no close frame: the TCP connection just goes away
	eventually(t, 5*time.Second, "the dead client to be removed", func() bool { return c.hub.clientCount() == 0 })
	if got := metricValue(t, reg, "watchfloor_console_ws_clients", nil); got != 0 {
		t.Errorf("ws_clients = %v", got)
	}
	if got := metricValue(t, reg, "watchfloor_console_ws_dropped_total", nil); got != 0 {
		t.Errorf("a client that left counts as dropped: %v", got)
	}
	c.PublishDevice(testDevice("x", "core", watchfloor.DeviceUp, 1)) // nobody to send to: fine
}

// Run serves until the context ends, then closes the clients with a close frame.
func TestRunShutdown(t *testing.T) {
	c, _ := newTestConsole(t, Config{Listen: "127.0.0.1:0"}, testStore())
	if c.Addr() != nil {
		t.Fatal("Addr before Listen")
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	base := "http://" + c.Addr().String()
	resp, body := get(t, base+"/healthz", "")
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d %s", resp.StatusCode, body)
	}
	conn, _, err := dial(t, base, "", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	read(t, conn)
	cancel()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("client saw %v, want a going-away close frame", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
}

// Run reports a listen failure.
func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, _ := newTestConsole(t, Config{Listen: ln.Addr().String()}, testStore())
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "console: listen") {
		t.Errorf("Run on a busy port: %v", err)
	}
}
