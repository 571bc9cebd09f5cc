package watchfloor

import (
	"cmp"
	"slices"
)

// Topology turns the LLDP neighbour tables of devices into the links of the site. A neighbour
// whose system name matches a device's SysName (or Name) becomes a link to that device; the
// same cable seen from both ends is one link. Neighbours that are not monitored keep their
// LLDP system name. The result is sorted, so equal inputs give equal outputs.
func Topology(devices []Device) []Link {
	byName := make(map[string]string, 2*len(devices))
	for _, d := range devices {
		byName[d.Name] = d.Name
		if d.SysName != "" {
			byName[d.SysName] = d.Name
		}
	}
	type end struct{ dev, port string }
	seen := make(map[[2]end]bool)
	var links []Link
	for _, d := range devices {
		for _, n := range d.Neighbors {
			remote := n.RemoteSysName
			if name, ok := byName[remote]; ok {
				remote = name
			}
			if remote == "" {
				remote = n.ChassisID
			}
			a, b := end{d.Name, n.LocalPort}, end{remote, n.RemotePort}
			if cmp.Or(cmp.Compare(a.dev, b.dev), cmp.Compare(a.port, b.port)) > 0 {
				a, b = b, a
			}
			if seen[[2]end{a, b}] {
				continue
			}
			seen[[2]end{a, b}] = true
			links = append(links, Link{A: a.dev, APort: a.port, B: b.dev, BPort: b.port})
		}
	}
	slices.SortFunc(links, func(x, y Link) int {
		return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.APort, y.APort), cmp.Compare(x.B, y.B), cmp.Compare(x.BPort, y.BPort))
	})
	return links
}
