module github.com/watchfloor/watchfloor

go 1.26.8

// Direct dependencies, each for one job:
require (
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // the SASL PLAIN server for go-smtp in those tests
	github.com/emersion/go-smtp v0.25.1 // an SMTP server in tests (notify/receiver's mail tests); not linked into the binary
	github.com/go-pdf/fpdf v0.9.0 // the monthly report's PDF: pure Go (no browser on an appliance), vector lines and rects for charts; the maintained gofpdf fork
	github.com/gopacket/gopacket v1.7.7 // packet layers (sFlow sampled headers, later the packet collector) and pcap files, in pure Go
	github.com/goreleaser/nfpm/v2 v2.48.0 // the .deb (cmd/mkdeb, a build tool: not linked into watchfloor); its deps below (go-git, sprig, …) come with it
	github.com/gorilla/websocket v1.5.3 // the console's live stream to the wall
	github.com/gosnmp/gosnmp v1.47.0 // SNMP polling, trap decoding, the lab's traps
	github.com/nats-io/nats-server/v2 v2.15.2 // the central's embedded JetStream server (appliance/central) and the real 3-node cluster in the uplink tests
	github.com/nats-io/nats.go v1.55.0 // the uplink's client: JetStream publish with message IDs and PubAcks, durable pull consumers (appliance/uplink, appliance/central)
	github.com/netsampler/goflow2/v2 v2.2.6 // NetFlow v5/v9, IPFIX and sFlow decoders and template handling (not its producer or transports)
	github.com/prometheus/client_golang v1.25.0 // self-metrics on /metrics, on injected registries
	github.com/prometheus/client_model v0.6.3 // tests read metric values
	go.etcd.io/bbolt v1.5.0 // the appliance's embedded store
	go.yaml.in/yaml/v3 v3.0.6 // strict config decoding with line numbers (the maintained yaml.v3)
	golang.org/x/crypto v0.58.0 // bcrypt for the console's user passwords
	golang.org/x/net v0.60.0 // recvmmsg/sendmmsg batches (ipv4/ipv6 PacketConn) for the flow listeners
	golang.org/x/sys v0.49.0 // setns for tests in network namespaces
	golang.org/x/term v0.47.0 // `watchfloor user` reads passwords from the terminal without echo
	golang.org/x/time v0.16.0 // rate.Limiter: the uplink's token bucket (already required by nats-server)
)

require (
	dario.cat/mergo v1.0.2 // indirect
	github.com/AlekSi/pointer v1.2.0 // indirect
	github.com/Masterminds/goutils v1.1.1 // indirect
	github.com/Masterminds/semver/v3 v3.5.0 // indirect
	github.com/Masterminds/sprig/v3 v3.3.0 // indirect
	github.com/Microsoft/go-winio v0.6.2 // indirect
	github.com/ProtonMail/go-crypto v1.5.2 // indirect
	github.com/antithesishq/antithesis-sdk-go v0.8.0-default-no-op // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/blakesmith/ar v0.0.0-20190502131153-809d4375e1fb // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/cloudflare/circl v1.6.4 // indirect
	github.com/cyphar/filepath-securejoin v0.7.0 // indirect
	github.com/emirpasic/gods v1.18.1 // indirect
	github.com/go-git/gcfg v1.5.1-0.20230307220236-3a3c6141e376 // indirect
	github.com/go-git/go-billy/v5 v5.9.0 // indirect
	github.com/go-git/go-git/v5 v5.19.2 // indirect
	github.com/gobwas/glob v0.2.3 // indirect
	github.com/golang/groupcache v0.0.0-20241129210726-2c02b8208cf8 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/goreleaser/chglog v0.7.4 // indirect
	github.com/goreleaser/fileglob v1.4.1 // indirect
	github.com/huandu/xstrings v1.5.0 // indirect
	github.com/jbenet/go-context v0.0.0-20150711004518-d14ea06fba99 // indirect
	github.com/kevinburke/ssh_config v1.6.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/klauspost/cpuid/v2 v2.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/mitchellh/copystructure v1.2.0 // indirect
	github.com/mitchellh/reflectwalk v1.0.2 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/pjbgf/sha1cd v0.6.0 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/sergi/go-diff v1.4.0 // indirect
	github.com/shopspring/decimal v1.4.0 // indirect
	github.com/skeema/knownhosts v1.3.2 // indirect
	github.com/spf13/cast v1.10.0 // indirect
	github.com/ulikunitz/xz v0.5.17 // indirect
	github.com/xanzy/ssh-agent v0.3.3 // indirect
	gitlab.com/digitalxero/go-conventional-commit v1.0.7 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	gopkg.in/warnings.v0 v0.1.2 // indirect
)
