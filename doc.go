// Package watchfloor is the shared vocabulary of the command center: the records every part
// speaks — devices and their interfaces, metric samples, events, severities and the site
// topology. Collectors produce these records, the store keeps them, the console shows them.
//
// The package is deliberately small and depends on nothing but the standard library. Alerts,
// which the correlator derives from events, will be added here by the correlator work; until
// then an Event is the unit that reaches the wall.
package watchfloor
