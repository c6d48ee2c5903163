// Package e2e holds end-to-end tests: they build the mcfed binary, start
// real federations as separate `mcfed serve` processes on loopback, and
// drive them as SPs, operators' admins and users do (discovery, the admin
// API, a login with a certified OpenID Connect relying party, an SMS read
// on a simulated handset). Crashes are real: a node is stopped with SIGKILL
// or SIGTERM and started again on its data directory.
//
// The package has no code outside its tests; the load generator that
// drives a node from outside for benchmarks is e2e/loadgen.
package e2e
