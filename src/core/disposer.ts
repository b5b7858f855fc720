/**
 * What a subscription returns: call it, or let `using` dispose it, to unsubscribe.
 *
 * @module
 */

/** A function that undoes a subscription, also disposable with `using`. */
export type Disposer = (() => void) & Disposable;
