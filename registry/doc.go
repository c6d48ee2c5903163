// Package registry is the data model every mcfed node replicates: operators,
// MSISDN ranges, ported numbers, IP ranges, service providers and the product
// catalogue, with the lookups discovery needs (Resolve, by MCC/MNC, by IP).
//
// The registry changes only through typed commands applied by Apply, which
// needs no Raft: the raft package feeds it the log, tests and tools call it
// directly. Apply never reads the clock, never draws random numbers and never
// hashes secrets: whoever builds a command fixes time, ids and hashes first,
// so every replica applying the same log ends in the same state.
//
// A leader wraps every command it proposes with its author (authored.go):
// Apply judges it against the author's credential (authorize.go), applies
// it or refuses it as CodeForbidden, and records either in the replicated
// audit log (audit.go). Commands without an author, from a log written
// before authors existed, apply as they always did.
package registry
