// Package registry is the data model every mcfed node replicates: operators,
// MSISDN ranges, ported numbers, IP ranges, service providers and the product
// catalogue, with the lookups discovery needs (Resolve, by MCC/MNC, by IP).
//
// The registry changes only through typed commands applied by Apply, which
// needs no Raft: the raft package feeds it the log, tests and tools call it
// directly. Apply never reads the clock, never draws random numbers and never
// hashes secrets: whoever builds a command fixes time, ids and hashes first,
// so every replica applying the same log ends in the same state.
package registry
