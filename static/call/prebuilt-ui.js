// ui = "prebuilt": Daily Prebuilt draws the call (its own camera, mic, leave and fullscreen buttons, captions);
// around it we keep the remaining time, the recording indicator and control, the transcript and the end button.
import {mountCommon} from 'cvi/common-ui.js';

export function mountUI({room, config, conversation, transcript, announce, mode, onEnd}) {
  const common = mountCommon({room, config: {...config, captions: false}, conversation, transcript, announce,
    onEnd, mode});
  const onLeft = () => onEnd();
  room.on('left-meeting', onLeft);
  return {
    started: common.started,
    caption(role, text) { transcript.add(role, text); },  // Prebuilt shows its own captions
    destroy() {
      room.off?.('left-meeting', onLeft);
      common.destroy();
    },
  };
}
