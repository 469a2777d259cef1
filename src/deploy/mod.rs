//! Build, package and push (targets behind one trait). SKELETON.
