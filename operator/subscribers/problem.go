package subscribers

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// problem is an RFC 9457 problem details body. The API writes its own
// problems rather than returning errors, so its answers do not depend on the
// error handler of the app it is mounted in.
type problem struct {
	Type   string     `json:"type"`
	Title  string     `json:"title"`
	Status int        `json:"status"`
	Detail string     `json:"detail,omitempty"`
	Field  string     `json:"field,omitempty"`  // the invalid field, for 400
	Errors []RowError `json:"errors,omitempty"` // the bad lines, for 422
	More   bool       `json:"more,omitempty"`   // more bad lines than listed
}

const problemBase = "https://mcfed.dev/problems/"

// problemError carries a ready problem through code that returns errors.
type problemError struct{ p problem }

func (e *problemError) Error() string { return e.p.Detail }

func newProblem(status int, kind, detail string) *problemError {
	return &problemError{problem{Type: problemBase + kind, Title: http.StatusText(status), Status: status, Detail: detail}}
}

// problemFor maps an error to its problem; anything unexpected is a 500
// that does not show internals.
func problemFor(err error) problem {
	var pe *problemError
	var fe *FieldError
	var be *BulkError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &pe):
		return pe.p
	case errors.As(err, &mbe):
		return errImportTooLarge.p
	case errors.As(err, &be):
		p := newProblem(http.StatusUnprocessableEntity, "bad-rows", be.Error()).p
		p.Errors, p.More = be.Rows, be.More
		return p
	case errors.As(err, &fe):
		p := newProblem(http.StatusBadRequest, "invalid", fe.Error()).p
		p.Field = fe.Field
		return p
	case errors.Is(err, ErrNotFound):
		return newProblem(http.StatusNotFound, "not-found", err.Error()).p
	case errors.Is(err, ErrExists):
		return newProblem(http.StatusConflict, "exists", err.Error()).p
	case errors.Is(err, ErrVersionMismatch):
		return newProblem(http.StatusPreconditionFailed, "version-mismatch", err.Error()).p
	}
	return newProblem(http.StatusInternalServerError, "internal", "internal error").p
}

func writeProblem(c *fiber.Ctx, err error) error {
	p := problemFor(err)
	if p.Status == http.StatusRequestEntityTooLarge {
		// The rest of a streamed body was not read: the connection cannot
		// carry another request.
		c.Context().SetConnectionClose()
	}
	c.Status(p.Status)
	return c.JSON(p, "application/problem+json")
}
