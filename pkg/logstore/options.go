package logstore

import (
	"fmt"
	"regexp"

	"github.com/go-logr/logr"
)

// DefaultName is the log name used when Options.Name is empty.
const DefaultName = "default"

// nameRE is what a log name may look like: it becomes part of table names
// and file names.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// Options configure how a store opens a log. Every implementation's Open
// takes them.
type Options struct {
	// Name names the log inside its store, so that one database or
	// directory can hold several logs (one per whycache instance). It must
	// match ^[a-z][a-z0-9_]{0,39}$; empty means DefaultName.
	Name string
	// Create creates the log (and its tables or files) when it does not
	// exist. Without it, opening a missing log fails with ErrNotFound.
	Create bool
	// ExpectID, when not zero, is the identity the log must have; opening a
	// log with another identity fails with ErrIdentityMismatch.
	ExpectID LogID
	// Limits bound what Append accepts; zero fields mean the defaults.
	Limits Limits
	// Logger receives the store's structured logs. The zero value discards them.
	Logger logr.Logger
	// OnCommit, when set, is called after every transaction that makes
	// appended updates durable, with the number of updates and operations
	// it held. Stores that group concurrent appends into one transaction
	// report each group, so callers can export group-commit sizes.
	OnCommit func(updates, ops int)
	// MinConns is how many database connections the store keeps open,
	// even while idle, from the moment it opens; zero opens them only as
	// calls need them. Only the PostgreSQL store acts on it: a new
	// PostgreSQL connection is a new server process, tens of milliseconds
	// on a busy server, which the first calls after a quiet spell would
	// otherwise wait for (a MariaDB connection is a thread, and the
	// MariaDB store keeps the connections it opened anyway). A relay
	// keeps a few; an agent, one of many on the server, keeps none.
	MinConns int
}

// Validate checks the options and fills in defaults.
func (o Options) Validate() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if !nameRE.MatchString(o.Name) {
		return o, fmt.Errorf("log name %q must match %s: %w", o.Name, nameRE, ErrInvalid)
	}
	if o.MinConns < 0 {
		return o, fmt.Errorf("MinConns %d must not be negative: %w", o.MinConns, ErrInvalid)
	}
	o.Limits = o.Limits.WithDefaults()
	if o.Limits.MaxKeySize < 0 || o.Limits.MaxValueSize < 0 || o.Limits.MaxUpdateSize < 0 || o.Limits.MaxUpdateOps < 0 {
		return o, fmt.Errorf("limits must not be negative: %+v: %w", o.Limits, ErrInvalid)
	}
	return o, nil
}
