package console

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Observation query limits.
const (
	maxObsSourceLen = 256
	maxObsKinds     = 32 // kind names in one kind= list
)

// obsKindNames lists the valid kinds for error messages.
var obsKindNames = func() string {
	s := make([]string, obsKinds)
	for i := range s {
		s[i] = watchfloor.ObsKind(i + 1).String()
	}
	return strings.Join(s, ", ")
}()

// parseObsKinds reads a comma-separated list of observation kind names.
func parseObsKinds(s string) ([]watchfloor.ObsKind, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxObsKinds {
		return nil, badParam("kind", "more than %d kinds", maxObsKinds)
	}
	kinds := make([]watchfloor.ObsKind, 0, len(parts))
next:
	for _, p := range parts {
		p = strings.TrimSpace(p)
		for k := 1; k <= obsKinds; k++ {
			if watchfloor.ObsKind(k).String() == p {
				kinds = append(kinds, watchfloor.ObsKind(k))
				continue next
			}
		}
		return nil, badParam("kind", "%q is not one of %s", truncate(p), obsKindNames)
	}
	return kinds, nil
}

// parseObsAddr reads an address ("192.0.2.1", "2001:db8::1") or a prefix
// ("10.20.0.0/16"); an address matches itself only.
func parseObsAddr(name, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	if len(s) > maxParamLen {
		return netip.Prefix{}, badParam(name, "longer than %d characters", maxParamLen)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, badParam(name, "%q is not an address or prefix (192.0.2.1, 10.20.0.0/16, 2001:db8::/32)", truncate(s))
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() { // after masking, only with 96 bits or more
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, badParam(name, "%q is not an address or prefix (192.0.2.1, 10.20.0.0/16, 2001:db8::/32)", truncate(s))
	}
	a = a.Unmap() // the ring keeps addresses unmapped
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// obsQuery reads the parameters of /api/v1/observations.
func obsQuery(q url.Values, now time.Time) (ObsQuery, error) {
	var oq ObsQuery
	var err error
	if oq.Kinds, err = parseObsKinds(q.Get("kind")); err != nil {
		return oq, err
	}
	if oq.Src, err = parseObsAddr("src", q.Get("src")); err != nil {
		return oq, err
	}
	if oq.Dst, err = parseObsAddr("dst", q.Get("dst")); err != nil {
		return oq, err
	}
	if oq.Name = q.Get("name"); len(oq.Name) > maxObsText {
		return oq, badParam("name", "longer than %d characters", maxObsText)
	}
	if oq.Source = q.Get("source"); len(oq.Source) > maxObsSourceLen {
		return oq, badParam("source", "longer than %d characters", maxObsSourceLen)
	}
	if s := q.Get("since"); s != "" {
		if oq.Since, err = parseTime(s, now); err != nil {
			return oq, badParam("since", "%v", err)
		}
	}
	oq.Limit = DefaultObsLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxObsLimit {
			return oq, badParam("limit", "%q: want 1..%d", truncate(s), MaxObsLimit)
		}
		oq.Limit = n
	}
	return oq, nil
}

func (c *Console) getObservations(w http.ResponseWriter, r *http.Request) {
	if c.deps.Observations == nil {
		writeError(w, http.StatusNotFound, "no packet capture configured")
		return
	}
	oq, err := obsQuery(r.URL.Query(), c.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	obs := c.deps.Observations.Recent(oq)
	// Hold the documented bound whatever the source does.
	obs = obs[:min(len(obs), oq.Limit)]
	writeJSON(w, http.StatusOK, struct {
		Observations []ObsView `json:"observations"`
	}{nonNil(obs)})
}
