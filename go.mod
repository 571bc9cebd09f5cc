module github.com/watchfloor/watchfloor

go 1.26.8

// Direct dependencies, each for one job:
require (
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // the SASL PLAIN server for go-smtp in those tests
	github.com/emersion/go-smtp v0.25.1 // an SMTP server in tests (notify/receiver's mail tests); not linked into the binary
	github.com/go-pdf/fpdf v0.9.0 // the monthly report's PDF: pure Go (no browser on an appliance), vector lines and rects for charts; the maintained gofpdf fork
	github.com/gopacket/gopacket v1.7.7 // packet layers (sFlow sampled headers, later the packet collector) and pcap files, in pure Go
	github.com/gorilla/websocket v1.5.3 // the console's live stream to the wall
	github.com/gosnmp/gosnmp v1.47.0 // SNMP polling, trap decoding, the lab's traps
	github.com/netsampler/goflow2/v2 v2.2.6 // NetFlow v5/v9, IPFIX and sFlow decoders and template handling (not its producer or transports)
	github.com/prometheus/client_golang v1.25.0 // self-metrics on /metrics, on injected registries
	github.com/prometheus/client_model v0.6.3 // tests read metric values
	go.etcd.io/bbolt v1.5.0 // the appliance's embedded store
	go.yaml.in/yaml/v3 v3.0.6 // strict config decoding with line numbers (the maintained yaml.v3)
	golang.org/x/crypto v0.57.0 // bcrypt for the console's user passwords
	golang.org/x/net v0.60.0 // recvmmsg/sendmmsg batches (ipv4/ipv6 PacketConn) for the flow listeners
	golang.org/x/sys v0.48.0 // setns for tests in network namespaces
	golang.org/x/term v0.46.0 // `watchfloor user` reads passwords from the terminal without echo
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
