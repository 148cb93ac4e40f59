import json, sys, numpy as np, onnxruntime as ort
from pathlib import Path
from PIL import Image, ImageDraw
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parents[1]))
from pose import run_mesh
import clothing as C
sess = ort.InferenceSession(str(__import__('pathlib').Path(__file__).resolve().parents[3]/'models/converted/face_landmark.onnx'), providers=['CPUExecutionProvider'])
EYES=[[33,7,163,144,145,153,154,155,133,173,157,158,159,160,161,246],[263,249,390,373,374,380,381,382,362,398,384,385,386,387,388,466]]
def lab(rgb):
    return C.lin_to_lab(C.srgb_to_lin(rgb/255.0))
def cast(img, kind, s):
    g={'warm':[1+s,1-s/2,1-s],'cool':[1-s,1-0.4*s,1+0.15*s],'green':[1-0.8*s,1+0.1*s,1-0.8*s]}[kind]
    return np.clip(img*np.array(g),0,255)
def measure(img, eye_mid, fw):
    c=(eye_mid[0], eye_mid[1]+0.45*fw)
    m=run_mesh(sess, img.astype(np.uint8), c, 1.7*fw)
    res=[]
    for ids in EYES:
        poly=[tuple(m[i,:2]) for i in ids]
        mk=Image.new('L',(img.shape[1],img.shape[0]),0); ImageDraw.Draw(mk).polygon(poly,fill=1)
        px=img[np.asarray(mk)>0]
        if len(px)<20: continue
        y=px@[0.299,0.587,0.114]
        sel=px[y>=np.percentile(y,75)]
        L=lab(sel)
        res.append((L[:,0].mean(),L[:,1].mean(),L[:,2].mean()))
    r=max(res)  # brighter eye
    # skin: cheeks
    return r
if __name__=='__main__':
    exp=[json.loads(l) for l in open('/work/shared/fixtures/expected.jsonl')]
    for e in exp:
        k=e['params'].get('kind')
        if k not in ('compliant','cast','smile_teeth','white_top','under','over','bg_blue','bg_grey'): continue
        img=np.asarray(Image.open('/work/shared/fixtures/'+e['file']).convert('RGB')).astype(np.float64)
        p=e['params']
        r=measure(img,p['eye_mid'],p['face_width'])
        out=f"{e['file'][:38]:38s} base L{r[0]:5.1f} a{r[1]:5.1f} b{r[2]:5.1f}"
        if k=='compliant':
            for kind in ('warm','cool','green'):
                for s in (0.1,0.2,0.3):
                    q=measure(cast(img,kind,s),p['eye_mid'],p['face_width'])
                    out+=f" | {kind[0]}{s}: a{q[1]:4.0f} b{q[2]:4.0f}"
        print(out, flush=True)
