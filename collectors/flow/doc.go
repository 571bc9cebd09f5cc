// Package flow receives NetFlow v5/v9, IPFIX and sFlow v5 from exporters over UDP, decodes
// the datagrams with collectors/flow/decoder, enriches the records with what the appliance
// knows (device and interface names and speeds, site, direction) and hands them in batches to
// a Sink. sFlow counter samples become interface rate samples (rates.go).
//
// The receive path is built to go fast and lose nothing silently (listen.go, collector.go):
// each listen address gets several sockets bound with SO_REUSEPORT, each read by one goroutine
// with recvmmsg (64 datagrams per call) into buffers allocated once; each goroutine owns one
// decoder and one output batch, enriches in place and calls Sink.HandleFlows with its worker
// number. No allocation, goroutine or channel send per record. The receive buffers are large
// (SO_RCVBUFFORCE when the process may); what the kernel still drops when a burst outruns
// the readers is read from /proc/net/udp{,6} and exported as
// watchfloor_flow_socket_drops_total.
//
// Enrichment (enrich.go) uses immutable lookup tables swapped through an atomic pointer when
// the configuration or the SNMP inventory (UpdateDevice) changes a name, an address or a
// speed. Replay (replay.go) runs captures of exporter datagrams through the same path.
//
// Configuration, as the appliance reads it from YAML (the "flow" block):
//
//	netflow: ["0.0.0.0:2055"]     # NetFlow v5/v9 and IPFIX listeners
//	sflow: ["0.0.0.0:6343"]       # sFlow v5 listeners
//	sockets: 2                    # per address (default: GOMAXPROCS, at most 8)
//	receive_buffer: 33554432      # SO_RCVBUF bytes per socket (default 32 MiB)
//	template_ttl: 30m
//	our_networks: [198.51.100.0/24, 2001:db8::/32]
//	exporters:
//	  - address: 192.0.2.1
//	    device: core-r1           # the name the SNMP poller knows it by
//	    sampling_rate: 1000       # when the export does not state its rate
package flow
