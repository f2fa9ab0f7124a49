// The queue stub makes cvi() usable before embed.js has loaded; the loader drains it.
window.cvi = window.cvi || function () { (cvi.q = cvi.q || []).push(arguments); };

['ready', 'state', 'conversation.started', 'utterance', 'conversation.ended', 'error'].forEach(function (name) {
  cvi('on', name, function (event) {
    var li = document.createElement('li');
    li.textContent = name + ' ' + JSON.stringify(event);
    document.getElementById('log').appendChild(li);
  });
});

document.getElementById('talk').addEventListener('click', function () { cvi('start'); });
