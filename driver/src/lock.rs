//! The lock around the state that handles and the drive loop share, and the pointer that
//! shares it.
//!
//! Handles reach the drive loop through this shared state and the loop's waker, as quinn and
//! embassy-net do, not through a channel round trip per call. The lock is the runtime's
//! choice ([`Runtime::Lock`](crate::Runtime::Lock)): a `std::sync::Mutex` on the std runtimes
//! ([`StdLock`], under the `std` feature) makes the handles `Send + Sync`; an embassy runtime
//! can take embassy-sync's blocking mutex over a `RefCell`, which excludes other tasks of its
//! executor (or interrupts, with a critical section). The closure form (`with`) keeps a guard
//! from being held across an `.await`, and the driver never wakes a task while holding it.

/// Exclusive access to a `T` for the length of a closure.
pub trait Lock<T> {
    /// A lock around `value`.
    fn new(value: T) -> Self;
    /// Runs `f` with the value; other callers wait. Never called re-entrantly by the driver.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// The pointer the handles share: `Arc` where the target has atomic pointers, `Rc` where it
/// does not (riscv32imc has no compare-and-swap; handles there stay on one executor).
#[cfg(target_has_atomic = "ptr")]
pub type Shared<T> = alloc::sync::Arc<T>;
/// The pointer the handles share: `Rc` here, since the target has no atomic pointers.
#[cfg(not(target_has_atomic = "ptr"))]
pub type Shared<T> = alloc::rc::Rc<T>;

/// A [`Lock`] over `std::sync::Mutex`: the std runtimes' choice. A panic while it was held
/// does not make the client unusable (the poison is ignored: the core's state is consistent
/// between calls, since no call of it panics halfway by design).
#[cfg(feature = "std")]
#[derive(Debug, Default)]
pub struct StdLock<T>(std::sync::Mutex<T>);

#[cfg(feature = "std")]
impl<T> Lock<T> for StdLock<T> {
    fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

/// A [`Lock`] for one thread: a `RefCell`. For a runtime whose handles and drive loop run
/// on one single-threaded executor (it is not `Sync`, so the compiler holds it there), and
/// for the driver's own tests.
#[derive(Debug, Default)]
pub struct LocalLock<T>(core::cell::RefCell<T>);

impl<T> Lock<T> for LocalLock<T> {
    fn new(value: T) -> Self {
        Self(core::cell::RefCell::new(value))
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}
