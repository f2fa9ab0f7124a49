// The ended screen: why it ended, what was said (on screen, and as a plain-text download), the optional
// rating (widget key collect_rating) and next step (ended_cta, drawn by the template).
import {t} from 'cvi/i18n.js';

const $ = (id) => document.getElementById(id);
const WHY = {end_button: 'why_you', visitor_ended: 'why_you', panel_closed: 'why_you', ended_by_engine: 'why_them',
  ejected: 'why_them', connection_lost: 'why_lost', switched: 'why_switched'};

function why(reason, timeUp, name) {
  if (timeUp && reason === 'ended_by_engine') return t('why_time_up');
  return WHY[reason] ? t(WHY[reason], {name}) : `${t('ended_title')}.`;
}

/** Fills the ended screen; returns the sentence that says why. */
export function fillEnded({reason, conv, timeUp, transcript, name}) {
  const sentence = why(reason, timeUp, name);
  $('ended-why').textContent = sentence;
  $('ended-transcript').hidden = !transcript.lines.length;
  if (transcript.lines.length) {
    transcript.attach($('ended-lines'));
    const link = $('download');
    if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([transcript.text()], {type: 'text/plain'}));
  }
  rating(conv);
  return sentence;
}

// Thumbs up or down and a comment, sent once with the visitor's end token (POST .../rating).
function rating(conv) {
  const form = $('rating');
  if (!form) return;
  form.hidden = !conv;
  form.querySelector('fieldset').hidden = false;
  $('rating-done').hidden = true;
  let thumbs = '';
  const choose = (value) => {
    thumbs = value;
    $('thumbs-up').setAttribute('aria-pressed', String(value === 'up'));
    $('thumbs-down').setAttribute('aria-pressed', String(value === 'down'));
  };
  choose('');
  $('rating-comment').value = '';
  $('thumbs-up').onclick = () => choose('up');
  $('thumbs-down').onclick = () => choose('down');
  form.onsubmit = (e) => {
    e.preventDefault();
    if (!thumbs) return $('thumbs-up').focus();
    fetch(`/api/conversations/${encodeURIComponent(conv.conversation_id)}/rating`, {
      method: 'POST', headers: {'Content-Type': 'application/json', Authorization: `Bearer ${conv.end_token}`},
      body: JSON.stringify({thumbs, comment: $('rating-comment').value}),
    }).catch(() => {});
    form.querySelector('fieldset').hidden = true;
    $('rating-done').hidden = false;
    $('rating-done').focus();
  };
}
