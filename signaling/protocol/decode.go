package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Decode reads one frame from a browser. It refuses frames over
// MaxMessageBytes (too-large), frames that are not a JSON envelope with a
// string type and an object or null data (bad-message), and types a browser
// may not send (unknown-type). Every error is an *Error.
func Decode(frame []byte) (*Envelope, error) {
	return decode(frame, fromBrowser)
}

// DecodeServer reads one frame from the server, for Go clients. It checks
// the same things as Decode against the server's message types.
func DecodeServer(frame []byte) (*Envelope, error) {
	return decode(frame, fromServer)
}

var null = []byte("null")

func decode(frame []byte, known map[Type]bool) (*Envelope, error) {
	if len(frame) > MaxMessageBytes {
		return nil, NewError(CodeTooLarge, "frame over 64 KiB")
	}
	var env Envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, NewError(CodeBadMessage, "not a JSON envelope")
	}
	if env.Type == "" {
		return nil, NewError(CodeBadMessage, "envelope without type")
	}
	if !known[env.Type] {
		return nil, NewError(CodeUnknownType, "unknown message type")
	}
	if d := bytes.TrimSpace(env.Data); len(d) > 0 && d[0] != '{' && !bytes.Equal(d, null) {
		return nil, NewError(CodeBadMessage, "data must be an object")
	}
	return &env, nil
}

// DecodeData decodes the envelope's data into a T. Absent or null data
// gives T's zero value; data of the wrong shape is a bad-message *Error.
func DecodeData[T any](env *Envelope) (T, error) {
	var v T
	if len(env.Data) == 0 || bytes.Equal(bytes.TrimSpace(env.Data), null) {
		return v, nil
	}
	if err := json.Unmarshal(env.Data, &v); err != nil {
		return v, NewError(CodeBadMessage, "data of the wrong shape for "+string(env.Type))
	}
	return v, nil
}

// Encode returns the frame for a message of type t with data.
func Encode(t Type, data any) ([]byte, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encoding %s data: %w", t, err)
	}
	b, err := json.Marshal(Envelope{Type: t, Data: raw})
	if err != nil {
		return nil, fmt.Errorf("encoding %s envelope: %w", t, err)
	}
	return b, nil
}
