package embedded

import (
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds the writes of one transaction, so that one commit does
// not hold every waiting caller for long.
const maxGroup = 256

// committer commits writes in groups: it takes the first waiting write,
// every other one waiting at that moment (up to maxGroup), runs them in
// order in one transaction and commits once. A lone write is committed at
// once (unlike bbolt's Batch, which waits for company); under load, the
// writes that arrive during a commit share the next one. A write whose
// function fails has changed nothing (write's contract), so the others in
// its group still commit.
type committer struct {
	db   *bolt.DB
	reqs chan *writeReq
	done chan struct{}
	once sync.Once
	mu   sync.RWMutex // held for reading while sending; stop takes it to close
	shut bool
}

type writeReq struct {
	fn  func(*bolt.Tx) error
	err chan error
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db, reqs: make(chan *writeReq, maxGroup), done: make(chan struct{})}
	go c.loop()
	return c
}

// panicked carries a write function's panic back to its caller's
// goroutine, where the caller's recovery (a server's recover middleware)
// can see it, instead of ending the process in the committer's.
type panicked struct{ v any }

func (p panicked) Error() string { return "state store: a write panicked" }

// do runs fn in a transaction that has committed when do returns nil.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	r := &writeReq{fn: fn, err: make(chan error, 1)}
	c.mu.RLock()
	if c.shut {
		c.mu.RUnlock()
		return bolt.ErrDatabaseNotOpen
	}
	c.reqs <- r
	c.mu.RUnlock()
	err := <-r.err
	if p, ok := err.(panicked); ok {
		panic(p.v)
	}
	return err
}

// run calls r.fn, turning a panic into a panicked error.
func (r *writeReq) run(tx *bolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return r.fn(tx)
}

// errAbort rolls a group's transaction back when one of its writes
// panicked: what that write did before it panicked must not commit.
var errAbort = errors.New("a write of the group panicked")

func (c *committer) loop() {
	defer close(c.done)
	group := make([]*writeReq, 0, maxGroup)
	for first := range c.reqs {
		group = append(group[:0], first)
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		c.commit(group)
	}
}

func (c *committer) commit(group []*writeReq) {
	errs := make([]error, len(group))
	err := c.db.Update(func(tx *bolt.Tx) error {
		for i, r := range group {
			if errs[i] = r.run(tx); errors.As(errs[i], new(panicked)) {
				return errAbort
			}
		}
		return nil
	})
	if errors.Is(err, errAbort) && len(group) > 1 {
		// Commit the others one by one, the panicking one alone too (it
		// panics again, and its caller learns of it).
		for _, r := range group {
			c.commit([]*writeReq{r})
		}
		return
	}
	for i, r := range group {
		if errors.Is(err, errAbort) {
			r.err <- errs[i]
			continue
		}
		if err != nil {
			r.err <- err
			continue
		}
		r.err <- errs[i]
	}
}

// stop lets the writes already sent commit, then ends the loop; later
// writes fail as on a closed database.
func (c *committer) stop() {
	c.once.Do(func() {
		c.mu.Lock()
		c.shut = true
		close(c.reqs)
		c.mu.Unlock()
		<-c.done
	})
}
