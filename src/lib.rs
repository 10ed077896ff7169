//! vstyle: neural style transfer for images and video clips.
