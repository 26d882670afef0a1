package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Reason classifies an API error, with the names Kubernetes uses.
type Reason string

const (
	ReasonNotFound           Reason = "NotFound"
	ReasonAlreadyExists      Reason = "AlreadyExists"
	ReasonConflict           Reason = "Conflict"
	ReasonInvalid            Reason = "Invalid"
	ReasonBadRequest         Reason = "BadRequest"
	ReasonGone               Reason = "Expired"
	ReasonServiceUnavailable Reason = "ServiceUnavailable"
	ReasonTooLarge           Reason = "RequestEntityTooLarge"
	ReasonMethodNotAllowed   Reason = "MethodNotAllowed"
	ReasonInternal           Reason = "InternalError"
	ReasonUnauthorized       Reason = "Unauthorized"
	ReasonForbidden          Reason = "Forbidden"
	// ReasonUnsupportedMediaType: the body is in an encoding the server
	// does not take (HTTP 415); clients such as client-go then send JSON.
	ReasonUnsupportedMediaType Reason = "UnsupportedMediaType"
)

var reasonCodes = map[Reason]int{
	ReasonNotFound:             http.StatusNotFound,
	ReasonAlreadyExists:        http.StatusConflict,
	ReasonConflict:             http.StatusConflict,
	ReasonInvalid:              http.StatusUnprocessableEntity,
	ReasonBadRequest:           http.StatusBadRequest,
	ReasonGone:                 http.StatusGone,
	ReasonServiceUnavailable:   http.StatusServiceUnavailable,
	ReasonTooLarge:             http.StatusRequestEntityTooLarge,
	ReasonMethodNotAllowed:     http.StatusMethodNotAllowed,
	ReasonInternal:             http.StatusInternalServerError,
	ReasonUnauthorized:         http.StatusUnauthorized,
	ReasonForbidden:            http.StatusForbidden,
	ReasonUnsupportedMediaType: http.StatusUnsupportedMediaType,
}

// Status is the error body of every failed API call, shaped like a
// Kubernetes Status object. It implements error.
type Status struct {
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  Reason `json:"reason"`
	Code    int    `json:"code"`
	// Retryable says the same request may succeed later unchanged
	// (no leader yet, a leader change in flight).
	Retryable bool `json:"retryable,omitempty"`
}

func (s *Status) Error() string { return s.Message }

// NewError builds a Status error for reason with a formatted message.
func NewError(reason Reason, format string, args ...any) *Status {
	code, ok := reasonCodes[reason]
	if !ok {
		code = http.StatusInternalServerError
	}
	return &Status{
		Kind:      "Status",
		Status:    "Failure",
		Message:   fmt.Sprintf(format, args...),
		Reason:    reason,
		Code:      code,
		Retryable: reason == ReasonServiceUnavailable,
	}
}

// ReasonOf returns the reason of err if it is (or wraps) a *Status, and
// ReasonInternal otherwise.
func ReasonOf(err error) Reason {
	var s *Status
	if errors.As(err, &s) {
		return s.Reason
	}
	return ReasonInternal
}

// IsNotFound reports whether err says an object does not exist.
func IsNotFound(err error) bool { return ReasonOf(err) == ReasonNotFound }

// IsConflict reports whether err is a failed compare-and-set or a create of
// an object that already exists.
func IsConflict(err error) bool {
	r := ReasonOf(err)
	return r == ReasonConflict || r == ReasonAlreadyExists
}

// IsRetryable reports whether the same request may succeed if sent again.
func IsRetryable(err error) bool {
	var s *Status
	return errors.As(err, &s) && s.Retryable
}

// AsStatus converts any error into a *Status, keeping one that already is.
func AsStatus(err error) *Status {
	var s *Status
	if errors.As(err, &s) {
		return s
	}
	return NewError(ReasonInternal, "%s", err.Error())
}
