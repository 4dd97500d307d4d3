package engine

import (
	"reflect"
	"sync"
	"time"
)

// cloneValue returns a deep copy of v: new slices, maps and pointed-to
// values, so that the copy shares no memory with v except immutable
// strings. Unexported struct fields are copied by value. The persisted
// types contain none except time.Time's, whose *Location never changes.
func cloneValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(cloneValue(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		if flat(v.Type().Elem()) {
			reflect.Copy(out, v)
			return out
		}
		for i := range v.Len() {
			out.Index(i).Set(cloneValue(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), cloneValue(it.Value()))
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(cloneValue(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if f := out.Field(i); f.CanSet() && !flat(f.Type()) {
				f.Set(cloneValue(v.Field(i)))
			}
		}
		return out
	}
	return v
}

// flat reports whether a copy by value of a t shares no slice, map or
// pointer with the original. time.Time counts as flat (see cloneValue).
func flat(t reflect.Type) bool {
	if known, ok := flatTypes.Load(t); ok {
		return known.(bool)
	}
	isFlat := flatUncached(t)
	flatTypes.Store(t, isFlat)
	return isFlat
}

// flatTypes caches flat by type.
var flatTypes sync.Map

func flatUncached(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return false
	case reflect.Array:
		return flat(t.Elem())
	case reflect.Struct:
		if t == timeType {
			return true
		}
		for i := range t.NumField() {
			if !flat(t.Field(i).Type) {
				return false
			}
		}
	}
	return true
}

var timeType = reflect.TypeFor[time.Time]()
