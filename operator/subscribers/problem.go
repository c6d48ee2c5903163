package subscribers

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	rfc9457 "github.com/mcfed/mcfed/internal/problem"
)

// problem is the API's error body, an RFC 9457 problem. The API writes its
// own problems rather than returning errors, so its answers do not depend
// on the error handler of the app it is mounted in.
type problem = rfc9457.Details

func newProblem(status int, kind, detail string) *rfc9457.Error {
	return rfc9457.New(status, kind, detail)
}

// problemFor maps an error to its problem; anything unexpected is a 500
// that does not show internals.
func problemFor(err error) problem {
	var pe *rfc9457.Error
	var fe *FieldError
	var be *BulkError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &pe):
		return pe.Problem
	case errors.As(err, &mbe):
		return errImportTooLarge.Problem
	case errors.As(err, &be):
		p := newProblem(http.StatusUnprocessableEntity, "bad-rows", be.Error()).Problem
		p.More = be.More
		for _, r := range be.Rows {
			p.Errors = append(p.Errors, rfc9457.RowError{Line: r.Line, Field: r.Field, Detail: r.Detail})
		}
		return p
	case errors.As(err, &fe):
		p := newProblem(http.StatusBadRequest, "invalid", fe.Error()).Problem
		p.Field = fe.Field
		return p
	case errors.Is(err, ErrNotFound):
		return newProblem(http.StatusNotFound, "not-found", err.Error()).Problem
	case errors.Is(err, ErrExists):
		return newProblem(http.StatusConflict, "exists", err.Error()).Problem
	case errors.Is(err, ErrVersionMismatch):
		return newProblem(http.StatusPreconditionFailed, "version-mismatch", err.Error()).Problem
	}
	return newProblem(http.StatusInternalServerError, "internal", "internal error").Problem
}

func writeProblem(c *fiber.Ctx, err error) error {
	p := problemFor(err)
	if p.Status == http.StatusRequestEntityTooLarge {
		// The rest of a streamed body was not read: the connection cannot
		// carry another request.
		c.Context().SetConnectionClose()
	}
	c.Status(p.Status)
	return c.JSON(p, rfc9457.ContentType)
}
