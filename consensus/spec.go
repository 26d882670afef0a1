package consensus

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// specChanged reports whether anything outside type, metadata and status
// differs between two objects of the same kind, as their JSON would show
// it: a field left out by omitempty equals an empty one, a field with its
// own JSON form compares by that form. It walks the objects instead of
// encoding them, because every replica runs it for every update.
func specChanged(prev, next api.Object) bool {
	a, b := reflect.ValueOf(prev).Elem(), reflect.ValueOf(next).Elem()
	if a.Type() != b.Type() {
		return true
	}
	t := a.Type()
	for i := range t.NumField() {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !fieldEqual(t.Field(i), a.Field(i), b.Field(i)) {
			return true
		}
	}
	return false
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

// fieldEqual compares one struct field as encoding/json would write it.
func fieldEqual(f reflect.StructField, a, b reflect.Value) bool {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() && !f.Anonymous {
		return true // not in the JSON
	}
	if strings.Contains(tag, ",omitempty") && jsonEmpty(a) && jsonEmpty(b) {
		return true
	}
	return jsonEqual(a, b)
}

// jsonEmpty is encoding/json's omitempty test.
func jsonEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// jsonEqual reports whether a and b (of one type) encode to the same JSON.
func jsonEqual(a, b reflect.Value) bool {
	if a.Type().Implements(marshalerType) || reflect.PointerTo(a.Type()).Implements(marshalerType) && a.CanAddr() {
		if a.Kind() == reflect.Pointer && (a.IsNil() || b.IsNil()) {
			return a.IsNil() == b.IsNil()
		}
		if a.CanInterface() && b.CanInterface() {
			ja, errA := json.Marshal(a.Interface())
			jb, errB := json.Marshal(b.Interface())
			return errA == nil && errB == nil && bytes.Equal(ja, jb)
		}
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		if a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type() {
			return false
		}
		return jsonEqual(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return false // null and [] differ
		}
		fallthrough
	case reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		if a.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Equal(a.Bytes(), b.Bytes())
		}
		for i := range a.Len() {
			if !jsonEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		it := a.MapRange()
		for it.Next() {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !jsonEqual(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			if !fieldEqual(t.Field(i), a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	}
	return true // funcs and channels are not in the JSON
}
