package sigma

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// family is a group of Sigma log sources whose fields map the same way onto one kind of
// Watchfloor record.
type family uint8

const (
	famFlow family = iota + 1 // firewall, network_connection, zeek conn → flow
	famDNS                    // dns, dns_query, zeek dns → dns (or dns_response)
	famHTTP                   // proxy, zeek http → http
	famTLS                    // zeek ssl → tls
)

func (f family) String() string {
	switch f {
	case famFlow:
		return "flow"
	case famDNS:
		return "dns"
	case famHTTP:
		return "http"
	case famTLS:
		return "tls"
	}
	return "?"
}

// ftype is how a Watchfloor field's values compare (rules.Str, rules.Num, rules.Addr).
type ftype uint8

const (
	tStr ftype = iota + 1
	tNum
	tAddr
)

func (t ftype) String() string {
	switch t {
	case tStr:
		return "text"
	case tNum:
		return "a number"
	case tAddr:
		return "an address"
	}
	return "?"
}

// target is where one Sigma field lands: a Watchfloor field, or a refusal.
type target struct {
	field string // Watchfloor field name; "" when refused
	typ   ftype
	names map[string]int64 // names accepted as values of a Num field (protocol, DNS type, rcode)
	why   string           // the refusal reason when field == ""
	// responseOnly marks fields only DNS responses carry: the rule then reads dns_response.
	responseOnly bool
}

// resolveLogsource maps a Sigma logsource onto a family, or says why it cannot.
func resolveLogsource(category, product, service string) (family, string) {
	category, product, service = strings.ToLower(category), strings.ToLower(product), strings.ToLower(service)
	if product == "watchfloor" {
		return 0, "already a Watchfloor rule (product watchfloor): nothing to convert"
	}
	if product == "zeek" && service != "" {
		switch service {
		case "conn":
			return famFlow, ""
		case "dns":
			return famDNS, ""
		case "http":
			return famHTTP, ""
		case "ssl":
			return famTLS, ""
		}
		return 0, fmt.Sprintf("logsource product zeek service %s has no Watchfloor equivalent (mapped zeek services: conn, dns, http, ssl)", service)
	}
	switch category {
	case "firewall", "network_connection":
		return famFlow, ""
	case "dns", "dns_query":
		return famDNS, ""
	case "proxy":
		return famHTTP, ""
	}
	var parts []string
	for _, p := range [][2]string{{"category", category}, {"product", product}, {"service", service}} {
		if p[1] != "" {
			parts = append(parts, p[0]+" "+p[1])
		}
	}
	if len(parts) == 0 {
		return 0, "logsource names no category, product or service"
	}
	return 0, fmt.Sprintf("logsource %s is not a network log source Watchfloor maps (firewall, network_connection, dns, dns_query, proxy; zeek conn, dns, http, ssl)", strings.Join(parts, ", "))
}

// Value names of numeric fields.
var (
	protoNames = map[string]int64{
		"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
		"icmpv6": 58, "icmp6": 58, "ipv6-icmp": 58, "sctp": 132,
	}
	dnsTypeNames = map[string]int64{
		"a": 1, "ns": 2, "cname": 5, "soa": 6, "null": 10, "wks": 11, "ptr": 12, "hinfo": 13,
		"mx": 15, "txt": 16, "sig": 24, "key": 25, "aaaa": 28, "loc": 29, "srv": 33,
		"naptr": 35, "dname": 39, "opt": 41, "ds": 43, "sshfp": 44, "rrsig": 46, "nsec": 47,
		"dnskey": 48, "nsec3": 50, "tlsa": 52, "cds": 59, "cdnskey": 60, "svcb": 64,
		"https": 65, "spf": 99, "tkey": 249, "tsig": 250, "ixfr": 251, "axfr": 252,
		"any": 255, "*": 255, "caa": 257,
	}
	rcodeNames = map[string]int64{
		"noerror": 0, "formerr": 1, "servfail": 2, "nxdomain": 3, "notimp": 4, "refused": 5,
		"yxdomain": 6, "yxrrset": 7, "nxrrset": 8, "notauth": 9, "notzone": 10, "badvers": 16,
	}
	// Sysmon's QueryStatus is a Windows status code, not an rcode: 0 is success and the
	// DNS_ERROR_RCODE_* codes are 9000 + rcode. Other codes (9501 no records, 1460 timeout,
	// …) have no rcode and are refused.
	queryStatusNames = map[string]int64{
		"0": 0, "9001": 1, "9002": 2, "9003": 3, "9004": 4, "9005": 5,
		"noerror": 0, "nxdomain": 3, "servfail": 2, "refused": 5,
	}
)

func mapped(field string, typ ftype) target { return target{field: field, typ: typ} }

func named(field string, names map[string]int64) target {
	return target{field: field, typ: tNum, names: names}
}

func refused(why string) target { return target{why: why} }

// common are the fields every network record has.
var common = map[string]target{
	"src_ip":              mapped("src_ip", tAddr),
	"SourceIp":            mapped("src_ip", tAddr),
	"source.ip":           mapped("src_ip", tAddr),
	"id.orig_h":           mapped("src_ip", tAddr),
	"c-ip":                mapped("src_ip", tAddr),
	"dst_ip":              mapped("dst_ip", tAddr),
	"DestinationIp":       mapped("dst_ip", tAddr),
	"destination.ip":      mapped("dst_ip", tAddr),
	"id.resp_h":           mapped("dst_ip", tAddr),
	"src_port":            mapped("src_port", tNum),
	"SourcePort":          mapped("src_port", tNum),
	"source.port":         mapped("src_port", tNum),
	"id.orig_p":           mapped("src_port", tNum),
	"dst_port":            mapped("dst_port", tNum),
	"DestinationPort":     mapped("dst_port", tNum),
	"destination.port":    mapped("dst_port", tNum),
	"id.resp_p":           mapped("dst_port", tNum),
	"proto":               named("proto", protoNames),
	"Protocol":            named("proto", protoNames),
	"protocol":            named("proto", protoNames),
	"network.transport":   named("proto", protoNames),
	"vlan":                mapped("vlan", tNum),
	"DestinationIsIpv6":   refused("field DestinationIsIpv6 has no equivalent in network records (use |cidr on dst_ip, e.g. ::/0)"),
	"SourceIsIpv6":        refused("field SourceIsIpv6 has no equivalent in network records (use |cidr on src_ip, e.g. ::/0)"),
	"SourceHostname":      refused("field SourceHostname has no equivalent in network records (records carry addresses, not host names)"),
	"DestinationPortName": refused("field DestinationPortName has no equivalent in network records (use DestinationPort)"),
	"SourcePortName":      refused("field SourcePortName has no equivalent in network records (use SourcePort)"),
}

var perFamily = map[family]map[string]target{
	famFlow: {
		"orig_ip_bytes":       mapped("bytes", tNum),
		"orig_pkts":           mapped("packets", tNum),
		"duration":            mapped("duration", tNum),
		"tcp_flags":           mapped("tcp_flags", tNum),
		"DestinationHostname": refused("field DestinationHostname has no equivalent in flow records (flows carry addresses, not names; zeek ssl and http rules map it to tls.sni and http.host)"),
		"action":              refused("field action has no equivalent in flow records: a flow is traffic the exporter forwarded, not a firewall's decision"),
		"blocked":             refused("field blocked has no equivalent in flow records: a flow is traffic the exporter forwarded, not a firewall's decision"),
		"disposition":         refused("field disposition has no equivalent in flow records: a flow is traffic the exporter forwarded, not a firewall's decision"),
		"orig_bytes":          refused("field orig_bytes (zeek: payload bytes) has no equivalent: flow records count IP bytes (zeek orig_ip_bytes maps to bytes)"),
		"resp_bytes":          refused("field resp_bytes describes the responder's direction, which is a separate flow record in Watchfloor"),
		"resp_pkts":           refused("field resp_pkts describes the responder's direction, which is a separate flow record in Watchfloor"),
		"resp_ip_bytes":       refused("field resp_ip_bytes describes the responder's direction, which is a separate flow record in Watchfloor"),
	},
	famDNS: {
		"query":               mapped("dns.query", tStr),
		"QueryName":           mapped("dns.query", tStr),
		"dns.question.name":   mapped("dns.query", tStr),
		"record_type":         named("dns.type", dnsTypeNames),
		"QueryType":           named("dns.type", dnsTypeNames),
		"qtype_name":          named("dns.type", dnsTypeNames),
		"qtype":               mapped("dns.type", tNum),
		"dns.question.type":   named("dns.type", dnsTypeNames),
		"rcode":               {field: "dns.rcode", typ: tNum, names: rcodeNames, responseOnly: true},
		"rcode_name":          {field: "dns.rcode", typ: tNum, names: rcodeNames, responseOnly: true},
		"response_code":       {field: "dns.rcode", typ: tNum, names: rcodeNames, responseOnly: true},
		"dns.response_code":   {field: "dns.rcode", typ: tNum, names: rcodeNames, responseOnly: true},
		"QueryStatus":         {field: "dns.rcode", typ: tNum, names: queryStatusNames, responseOnly: true},
		"answer":              refused("field answer holds answer data; Watchfloor keeps only the answer count (dns.answers)"),
		"answers":             refused("field answers holds answer data; Watchfloor keeps only the answer count (dns.answers)"),
		"QueryResults":        refused("field QueryResults holds answer data; Watchfloor keeps only the answer count (dns.answers)"),
		"DestinationHostname": refused("field DestinationHostname has no equivalent in dns records (the queried name is query/QueryName)"),
	},
	famHTTP: {
		"host":                mapped("http.host", tStr),
		"cs-host":             mapped("http.host", tStr),
		"r-dns":               mapped("http.host", tStr),
		"DestinationHostname": mapped("http.host", tStr),
		"method":              mapped("http.method", tStr),
		"cs-method":           mapped("http.method", tStr),
		"http.request.method": mapped("http.method", tStr),
	},
	famTLS: {
		"server_name":            mapped("tls.sni", tStr),
		"DestinationHostname":    mapped("tls.sni", tStr),
		"tls.client.server_name": mapped("tls.sni", tStr),
	},
}

// genericWhy is the reason for a field no table names.
func genericWhy(f family, field string) string {
	switch f {
	case famHTTP:
		return fmt.Sprintf("field %s has no equivalent in network records (http records keep the Host header and the method)", field)
	case famTLS:
		return fmt.Sprintf("field %s has no equivalent in network records (tls records keep the SNI and the ALPN list)", field)
	}
	return fmt.Sprintf("field %s has no equivalent in network records", field)
}

// lookupField maps a Sigma field name within a family.
func lookupField(f family, field string) target {
	if t, ok := perFamily[f][field]; ok {
		return t
	}
	if t, ok := common[field]; ok {
		return t
	}
	return refused(genericWhy(f, field))
}

// numValue converts one value for a Num field: a number, or a name the field knows.
func numValue(t target, sigmaField, v string) (string, string) {
	s := strings.TrimSpace(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if t.names != nil && isQueryStatus(t) {
			// QueryStatus numbers are Windows codes, translated by the table.
			if r, ok := t.names[s]; ok {
				return strconv.FormatInt(r, 10), ""
			}
			return "", fmt.Sprintf("QueryStatus %s has no DNS rcode equivalent (mapped: 0, 9001–9005)", s)
		}
		return strconv.FormatInt(n, 10), ""
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXnN") {
		return strconv.FormatFloat(f, 'f', -1, 64), ""
	}
	if t.names != nil {
		if r, ok := t.names[strings.ToLower(s)]; ok {
			return strconv.FormatInt(r, 10), ""
		}
		return "", fmt.Sprintf("value %q of %s has no numeric equivalent for %s (known names: %s)", v, sigmaField, t.field, knownNames(t.names))
	}
	return "", fmt.Sprintf("value %q of %s is not a number, and %s is numeric", v, sigmaField, t.field)
}

func isQueryStatus(t target) bool {
	_, ok := t.names["9003"]
	return ok
}

func knownNames(m map[string]int64) string {
	var ks []string
	for k := range m {
		if _, err := strconv.Atoi(k); err == nil || k == "*" {
			continue
		}
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if len(ks) > 12 {
		ks = append(ks[:12], "…")
	}
	return strings.Join(ks, ", ")
}
