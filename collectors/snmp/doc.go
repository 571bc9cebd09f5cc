// Package snmp polls switches and routers over SNMP (v2c and v3; v1 for old agents): the
// system group, the IF-MIB interface tables (64-bit counters where the agent has them),
// HOST-RESOURCES CPU load and RAM, and the LLDP neighbour table. It turns counters into
// rates, with 32-bit wrap, counter reset and reboot handling (rate.go), and state changes into
// events (state.go), and hands devices, samples and events to a Sink.
//
// One gosnmp session per device, reused between polls (SNMPv3 engine discovery is done once)
// and rebuilt after a failure; a device is polled by one worker at a time. Tables are walked
// several columns per GETBULK request (walk.go); a device that times out on bulk requests is
// retried at lower max-repetitions (25 → 10 → 5), which it keeps.
//
// Configuration, as the appliance reads it from YAML:
//
//	site: east
//	interval: 30s
//	timeout: 2s
//	retries: 1
//	workers: 32
//	max_repetitions: 25
//	down_after: 2
//	devices:
//	  - name: core-r1
//	    address: 192.0.2.1        # :161 when no port is given
//	    role: core
//	    snmp:
//	      version: "3"
//	      username: noc
//	      security_level: authPriv
//	      auth_protocol: SHA-256
//	      auth_passphrase: …
//	      priv_protocol: AES
//	      priv_passphrase: …
//	  - name: access-s7
//	    address: 192.0.2.7:161
//	    snmp: {version: 2c, community: …}
package snmp
