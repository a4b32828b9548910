import { useEffect, useState } from 'preact/hooks'

/** A value held outside components that any code may set and components follow: the notices, the stream's status. */
export interface Store<T> {
  get(): T
  set(value: T): void
  /** The value, re-rendering the component when it changes. */
  use(): T
}

export function createStore<T>(initial: T): Store<T> {
  let current = initial
  const listeners = new Set<(value: T) => void>()
  return {
    get: () => current,
    set(value) {
      if (Object.is(value, current)) return
      current = value
      for (const listener of listeners) listener(value)
    },
    use() {
      const [value, setValue] = useState(current)
      useEffect(() => {
        listeners.add(setValue)
        setValue(current)
        return () => {
          listeners.delete(setValue)
        }
      }, [])
      return value
    },
  }
}
