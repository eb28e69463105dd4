//! One module per surface a request comes from: buttons and menus
//! (`interactions`, each click read by `click`), `/tags` (`commands`),
//! Events API callbacks (`events`), review sessions (`sessions`), the
//! App Home (`home`), and an Undo pressed on any of them (`undo`). They decide through `review` and answer through
//! `output`.
pub mod click;
pub mod commands;
pub mod events;
pub mod home;
pub mod interactions;
pub mod sessions;
pub mod undo;
