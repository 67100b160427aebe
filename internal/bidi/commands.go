package bidi

import (
	"context"
	"encoding/base64"
	"fmt"
)

// RemoteValue is a script result as BiDi serializes it: Type is "string",
// "number", "boolean", "undefined", "null", "node", ...; Value holds
// primitives; SharedID names a DOM node for input actions.
type RemoteValue struct {
	Type     string `json:"type"`
	Value    any    `json:"value,omitempty"`
	SharedID string `json:"sharedId,omitempty"`
}

// ScriptError is an exception the evaluated script threw.
type ScriptError struct {
	// Text is the exception's text, e.g. "TypeError: x is null".
	Text string
}

func (e *ScriptError) Error() string { return "script threw: " + e.Text }

// CreateTab opens a new tab and returns its browsing context id.
func (c *Client) CreateTab(ctx context.Context) (string, error) {
	var r struct {
		Context string `json:"context"`
	}
	err := c.Call(ctx, "browsingContext.create", map[string]any{"type": "tab"}, &r)
	return r.Context, err
}

// CloseTab closes the tab of context id.
func (c *Client) CloseTab(ctx context.Context, id string) error {
	return c.Call(ctx, "browsingContext.close", map[string]any{"context": id}, nil)
}

// Activate brings the tab to the front of its window and gives it the
// focus, as a user's click on it would: keys reach only the focused tab.
func (c *Client) Activate(ctx context.Context, id string) error {
	return c.Call(ctx, "browsingContext.activate", map[string]any{"context": id}, nil)
}

// Navigate loads url in the tab and waits until its document is parsed and
// its deferred and module scripts have run (DOMContentLoaded).
func (c *Client) Navigate(ctx context.Context, id, url string) error {
	return c.Call(ctx, "browsingContext.navigate", map[string]any{"context": id, "url": url, "wait": "interactive"}, nil)
}

// Reload reloads the tab's page and waits as Navigate does.
func (c *Client) Reload(ctx context.Context, id string) error {
	return c.Call(ctx, "browsingContext.reload", map[string]any{"context": id, "wait": "interactive"}, nil)
}

// SetViewport sets the tab's viewport in CSS pixels and its device pixel
// ratio.
func (c *Client) SetViewport(ctx context.Context, id string, width, height int64, devicePixelRatio float64) error {
	return c.Call(ctx, "browsingContext.setViewport", map[string]any{
		"context":          id,
		"viewport":         map[string]any{"width": width, "height": height},
		"devicePixelRatio": devicePixelRatio,
	}, nil)
}

// SetUserAgent makes the tab send and report userAgent.
func (c *Client) SetUserAgent(ctx context.Context, id, userAgent string) error {
	return c.Call(ctx, "emulation.setUserAgentOverride", map[string]any{"contexts": []string{id}, "userAgent": userAgent}, nil)
}

// Screenshot returns the tab's viewport as PNG.
func (c *Client) Screenshot(ctx context.Context, id string) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	if err := c.Call(ctx, "browsingContext.captureScreenshot", map[string]any{"context": id}, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// AddPreloadScript runs the JavaScript statements js in every document the
// tab loads from now on, before the page's own scripts, in the page's
// realm (the page's Content-Security-Policy does not apply).
func (c *Client) AddPreloadScript(ctx context.Context, id, js string) error {
	return c.Call(ctx, "script.addPreloadScript", map[string]any{
		"functionDeclaration": "() => {\n" + js + "\n}",
		"contexts":            []string{id},
	}, nil)
}

// Evaluate evaluates the JavaScript expression in the tab's page, awaits
// it if it is a promise, and returns the result. A thrown exception is a
// *ScriptError.
func (c *Client) Evaluate(ctx context.Context, id, expr string) (RemoteValue, error) {
	var r struct {
		Type             string      `json:"type"`
		Result           RemoteValue `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := c.Call(ctx, "script.evaluate", map[string]any{
		"expression":      expr,
		"target":          map[string]any{"context": id},
		"awaitPromise":    true,
		"resultOwnership": "none",
	}, &r)
	if err != nil {
		return RemoteValue{}, err
	}
	if r.Type == "exception" {
		return RemoteValue{}, &ScriptError{Text: r.ExceptionDetails.Text}
	}
	return r.Result, nil
}

// Click moves the mouse to the middle of the node sharedID and clicks its
// left button.
func (c *Client) Click(ctx context.Context, id, sharedID string) error {
	return c.performActions(ctx, id, map[string]any{
		"type":       "pointer",
		"id":         "mouse",
		"parameters": map[string]any{"pointerType": "mouse"},
		"actions": []map[string]any{
			{"type": "pointerMove", "x": 0, "y": 0, "origin": map[string]any{"type": "element", "element": map[string]any{"sharedId": sharedID}}},
			{"type": "pointerDown", "button": 0},
			{"type": "pointerUp", "button": 0},
		},
	})
}

// Enter is the WebDriver key value of the Enter key.
const Enter = "\uE007"

// Type presses and releases each key of keys (characters, or key values
// such as Enter) on the focused element.
func (c *Client) Type(ctx context.Context, id, keys string) error {
	actions := []map[string]any{}
	for _, r := range keys {
		actions = append(actions,
			map[string]any{"type": "keyDown", "value": string(r)},
			map[string]any{"type": "keyUp", "value": string(r)})
	}
	return c.performActions(ctx, id, map[string]any{"type": "key", "id": "keyboard", "actions": actions})
}

// performActions runs one input source's actions and releases what they
// left pressed.
func (c *Client) performActions(ctx context.Context, id string, source map[string]any) error {
	if err := c.Call(ctx, "input.performActions", map[string]any{"context": id, "actions": []any{source}}, nil); err != nil {
		return err
	}
	if err := c.Call(ctx, "input.releaseActions", map[string]any{"context": id}, nil); err != nil {
		return fmt.Errorf("releasing the input: %w", err)
	}
	return nil
}
