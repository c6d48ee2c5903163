package federation

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// tree is what a directory held at one moment: the paths under it, and
// whether it existed at all.
type tree struct {
	dir     string
	existed bool
	paths   map[string]bool
}

// listTree records what dir holds now (nothing, when it does not exist).
func listTree(dir string) (tree, error) {
	t := tree{dir: dir, paths: map[string]bool{}}
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		t.paths[path] = true
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return t, nil
	case err != nil:
		return t, err
	}
	t.existed = true
	return t, nil
}

// removeNew removes what was made under the directory since t was listed,
// and the directory itself if it did not exist then; what was there is
// left as it is.
func (t tree) removeNew() error {
	if !t.existed {
		return os.RemoveAll(t.dir)
	}
	var made []string
	err := filepath.WalkDir(t.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !t.paths[path] {
			made = append(made, path)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	for _, p := range made {
		err = errors.Join(err, os.RemoveAll(p))
	}
	return err
}
