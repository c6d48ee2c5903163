package jose

import "time"

// RotateDue replaces every active key that has been active for at least
// every with a new one (see Rotate) and returns the algorithms it rotated.
// A node runs it on a schedule; the ring's creation times are saved with
// it, so a restart does not reset the schedule.
func (r *KeyRing) RotateDue(now time.Time, every time.Duration) ([]Alg, error) {
	r.mu.RLock()
	var due []Alg
	for _, e := range r.entries {
		if r.active[e.key.alg] == e.key && now.Sub(e.created) >= every {
			due = append(due, e.key.alg)
		}
	}
	r.mu.RUnlock()
	var rotated []Alg
	for _, alg := range due {
		if _, err := r.Rotate(alg, now); err != nil {
			return rotated, err
		}
		rotated = append(rotated, alg)
	}
	return rotated, nil
}
